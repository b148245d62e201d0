/* tund-helperd's session state machine: the permit table, as a table. */
#include "helper-session.h"
#include "tests.h"

#define Y true
#define N false

/* The whole table, written out: a change to the code must change this too. */
static const bool expected[_SESSION_STATE_MAX][_SREQ_MAX] = {
        /*                 shimstop peers ctlpeers rebind ctlstop settings startrep stoprep event */
        [SESSION_STARTING] = { Y, N, N, N, Y, Y, Y, N, Y },
        [SESSION_RUNNING] = { Y, Y, Y, Y, Y, Y, N, N, Y },
        [SESSION_STOPPING] = { N, N, N, N, N, N, N, Y, Y },
        [SESSION_EXITED] = { N, N, N, N, N, N, N, N, Y },
};

TEST(permit_table_matches) {
        for (int s = 0; s < _SESSION_STATE_MAX; s++)
                for (int r = 0; r < _SREQ_MAX; r++)
                        if (helper_session_permits(s, r) != expected[s][r])
                                FAILF("state %s request %s: permits=%d, expected %d",
                                      helper_session_state_to_string(s),
                                      helper_session_request_to_string(r),
                                      helper_session_permits(s, r), expected[s][r]);
}

TEST(start_reply_only_once) {
        /* MON_ONCE: after the reply the state moves on, and nothing permits it again. */
        ASSERT_TRUE(helper_session_permits(SESSION_STARTING, SREQ_TUNNEL_START_REPLY));
        for (int s = SESSION_RUNNING; s < _SESSION_STATE_MAX; s++)
                ASSERT_TRUE(!helper_session_permits(s, SREQ_TUNNEL_START_REPLY));
}

TEST(out_of_range_is_refused) {
        ASSERT_TRUE(!helper_session_permits(_SESSION_STATE_MAX, SREQ_SHIM_STOP));
        ASSERT_TRUE(!helper_session_permits(SESSION_RUNNING, _SREQ_MAX));
        ASSERT_TRUE(!helper_session_permits((SessionState) -1, SREQ_SHIM_STOP));
        ASSERT_STREQ(helper_session_state_to_string(_SESSION_STATE_MAX), "invalid");
}

TEST(refusal_codes) {
        ASSERT_EQ(helper_session_refusal_code(SESSION_STARTING), TUND__ERROR_CODE__ERROR_BUSY);
        ASSERT_EQ(helper_session_refusal_code(SESSION_STOPPING), TUND__ERROR_CODE__ERROR_BUSY);
        ASSERT_EQ(helper_session_refusal_code(SESSION_EXITED), TUND__ERROR_CODE__ERROR_NOT_FOUND);
}

TEST(state_to_proto) {
        ASSERT_EQ(helper_session_state_to_proto(SESSION_STARTING, false),
                  TUND__SESSION_STATE__SESSION_STATE_STARTING);
        ASSERT_EQ(helper_session_state_to_proto(SESSION_RUNNING, false),
                  TUND__SESSION_STATE__SESSION_STATE_RUNNING);
        ASSERT_EQ(helper_session_state_to_proto(SESSION_RUNNING, true),
                  TUND__SESSION_STATE__SESSION_STATE_STALE);
        /* Stale is a kind of running only: a stopping session is stopping. */
        ASSERT_EQ(helper_session_state_to_proto(SESSION_STARTING, true),
                  TUND__SESSION_STATE__SESSION_STATE_STARTING);
        ASSERT_EQ(helper_session_state_to_proto(SESSION_STOPPING, true),
                  TUND__SESSION_STATE__SESSION_STATE_STOPPING);
        ASSERT_EQ(helper_session_state_to_proto(SESSION_EXITED, false),
                  TUND__SESSION_STATE__SESSION_STATE_STOPPING);
}

TEST(profile_names) {
        ASSERT_TRUE(helper_session_profile_valid("work"));
        ASSERT_TRUE(helper_session_profile_valid("a.b-c_D9"));
        ASSERT_TRUE(helper_session_profile_valid("12345678901234567890123456789012"));
        ASSERT_TRUE(!helper_session_profile_valid("123456789012345678901234567890123"));
        ASSERT_TRUE(!helper_session_profile_valid(""));
        ASSERT_TRUE(!helper_session_profile_valid(NULL));
        ASSERT_TRUE(!helper_session_profile_valid("."));
        ASSERT_TRUE(!helper_session_profile_valid(".."));
        ASSERT_TRUE(!helper_session_profile_valid("a/b"));
        ASSERT_TRUE(!helper_session_profile_valid("a b"));
        ASSERT_TRUE(!helper_session_profile_valid("wörk"));
}
