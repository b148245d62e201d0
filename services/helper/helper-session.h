/* The session state machine: which request may be served in which state (OpenSSH monitor's
 * MON_PERMIT table, as data rather than a scatter of ifs). Pure: unit-tested without a loop. */
#pragma once

#include <stdbool.h>

#include "common.pb-c.h"

typedef enum SessionState {
        SESSION_STARTING, /* tunnel spawned, StartRequest sent, StartResponse awaited */
        SESSION_RUNNING,  /* StartResponse relayed to the shim */
        SESSION_STOPPING, /* StopRequest sent (or the tunnel went away); waiting for its exit */
        SESSION_EXITED,   /* tunnel reaped; the session is being finished */
        _SESSION_STATE_MAX,
} SessionState;

typedef enum SessionRequest {
        SREQ_SHIM_STOP,          /* shim StopSession */
        SREQ_SHIM_GET_PEERS,     /* shim ShimGetPeers */
        SREQ_CTL_GET_PEERS,      /* control CtlGetPeers */
        SREQ_CTL_REBIND,         /* control CtlRebind */
        SREQ_CTL_STOP,           /* control CtlStopSession */
        SREQ_TUNNEL_SETTINGS,    /* tunnel NetworkSettingsRequest */
        SREQ_TUNNEL_START_REPLY, /* tunnel's reply to StartRequest */
        SREQ_TUNNEL_STOP_REPLY,  /* tunnel's reply to StopRequest */
        SREQ_TUNNEL_EVENT,       /* tunnel one-way Log, Status, PeerUpdate */
        _SREQ_MAX,
} SessionRequest;

bool helper_session_permits(SessionState s, SessionRequest r);
/* The error code a refused request gets: ERROR_BUSY while starting/stopping, ERROR_NOT_FOUND
 * once exited. */
Tund__ErrorCode helper_session_refusal_code(SessionState s);
const char *helper_session_state_to_string(SessionState s);
const char *helper_session_request_to_string(SessionRequest r);
/* RUNNING with stale set is SESSION_STATE_STALE (the tunnel's health verdict). */
Tund__SessionState helper_session_state_to_proto(SessionState s, bool stale);
/* A profile name as StartSession allows: [A-Za-z0-9_.-]{1,32}, not "." or "..". */
bool helper_session_profile_valid(const char *p);
