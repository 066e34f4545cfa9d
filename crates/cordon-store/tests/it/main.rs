//! The storage conformance suite: every test in `suite` runs against SQLite and PostgreSQL.
//!
//! PostgreSQL comes from `CORDON_TEST_POSTGRES_URL` (the test command starts a throwaway
//! cluster and sets it). Without it the PostgreSQL half is skipped with a notice, except under
//! `CI=true`, where a missing PostgreSQL fails the run.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod backends;
mod paging;
mod sqlite_queue;
mod suite;

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let (store, _dir) = crate::backends::sqlite().await;
                    crate::suite::$test(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(store) = crate::backends::postgres().await else { return };
                    crate::suite::$test(store).await;
                }
            )*
        }
    };
}

conformance!(
    declared_incident_reads_back,
    second_writer_of_a_sequence_number_gets_a_conflict,
    concurrent_appends_never_fork_the_chain,
    codenames_are_unique_among_open_incidents,
    lists_apply_need_to_know,
    lookup_by_id_prefix_and_codename,
    checkpoints_append_in_order,
    heads_are_the_last_entry_of_each_chain,
    first_user_is_created_only_once,
    users_sessions_and_tokens_round_trip,
    totp_steps_are_used_once,
    repeated_triggers_are_one_alert_until_resolved,
    alerts_of_one_group_join_the_first_ones_incident,
    an_escalation_step_pages_once_however_many_nodes_race,
    a_notification_is_claimed_by_one_sender_until_its_lease_lapses,
    acknowledging_stops_escalation_and_cancels_unsent_pages,
    settings_keep_their_first_value,
);
