/* See helper-session.h. */
#include "helper-session.h"
#include "macro.h"

#define P(r) (1u << (r))

/* What each state permits. Anything else is refused with helper_session_refusal_code(). */
static const unsigned session_permit_table[_SESSION_STATE_MAX] = {
        [SESSION_STARTING] = P(SREQ_SHIM_STOP) | P(SREQ_CTL_STOP) | P(SREQ_TUNNEL_SETTINGS) |
                             P(SREQ_TUNNEL_START_REPLY) | P(SREQ_TUNNEL_EVENT),
        [SESSION_RUNNING] = P(SREQ_SHIM_STOP) | P(SREQ_SHIM_GET_PEERS) | P(SREQ_CTL_GET_PEERS) |
                            P(SREQ_CTL_REBIND) | P(SREQ_CTL_STOP) | P(SREQ_TUNNEL_SETTINGS) |
                            P(SREQ_TUNNEL_EVENT),
        /* Events still flow while stopping: the tunnel's last log line says why it ended. */
        [SESSION_STOPPING] = P(SREQ_TUNNEL_STOP_REPLY) | P(SREQ_TUNNEL_EVENT),
        /* The dead tunnel's last lines, read before the session is finished. */
        [SESSION_EXITED] = P(SREQ_TUNNEL_EVENT),
};

bool helper_session_permits(SessionState s, SessionRequest r) {
        if ((unsigned) s >= _SESSION_STATE_MAX || (unsigned) r >= _SREQ_MAX)
                return false;
        return session_permit_table[s] & P(r);
}

Tund__ErrorCode helper_session_refusal_code(SessionState s) {
        return s == SESSION_EXITED ? TUND__ERROR_CODE__ERROR_NOT_FOUND
                                   : TUND__ERROR_CODE__ERROR_BUSY;
}

const char *helper_session_state_to_string(SessionState s) {
        static const char *const names[_SESSION_STATE_MAX] = {
                [SESSION_STARTING] = "starting",
                [SESSION_RUNNING] = "running",
                [SESSION_STOPPING] = "stopping",
                [SESSION_EXITED] = "exited",
        };
        return (unsigned) s < _SESSION_STATE_MAX ? names[s] : "invalid";
}

const char *helper_session_request_to_string(SessionRequest r) {
        static const char *const names[_SREQ_MAX] = {
                [SREQ_SHIM_STOP] = "StopSession",
                [SREQ_SHIM_GET_PEERS] = "ShimGetPeers",
                [SREQ_CTL_GET_PEERS] = "CtlGetPeers",
                [SREQ_CTL_REBIND] = "CtlRebind",
                [SREQ_CTL_STOP] = "CtlStopSession",
                [SREQ_TUNNEL_SETTINGS] = "NetworkSettingsRequest",
                [SREQ_TUNNEL_START_REPLY] = "StartResponse",
                [SREQ_TUNNEL_STOP_REPLY] = "StopResponse",
                [SREQ_TUNNEL_EVENT] = "tunnel event",
        };
        return (unsigned) r < _SREQ_MAX ? names[r] : "invalid";
}

Tund__SessionState helper_session_state_to_proto(SessionState s, bool stale) {
        switch (s) {
        case SESSION_STARTING:
                return TUND__SESSION_STATE__SESSION_STATE_STARTING;
        case SESSION_RUNNING:
                return stale ? TUND__SESSION_STATE__SESSION_STATE_STALE
                             : TUND__SESSION_STATE__SESSION_STATE_RUNNING;
        default:
                return TUND__SESSION_STATE__SESSION_STATE_STOPPING;
        }
}

bool helper_session_profile_valid(const char *p) {
        size_t n = p ? strlen(p) : 0;
        if (n < 1 || n > 32 || streq(p, ".") || streq(p, ".."))
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = p[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '.' || c == '-'))
                        return false;
        }
        return true;
}
