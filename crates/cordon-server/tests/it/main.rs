//! The server's test suite, run against SQLite and PostgreSQL: the access-control matrix
//! over every route, sessions, CSRF, tokens, throttling, break-glass, the OpenAPI document and
//! the web UI's pages; and the browser suite (`browser`), which drives a real Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod browser;
mod evidence;
mod fixture;
mod matrix;
mod paging;
mod web;

/// Instantiates each listed async test for both backends.
macro_rules! on_both_backends {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let backend = crate::fixture::Backend::Sqlite;
                    crate::$module::$test(backend).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(backend) = crate::fixture::Backend::postgres() else { return };
                    crate::$module::$test(backend).await;
                }
            )*
        }
    };
}

on_both_backends!(
    matrix::every_route_answers_every_caller_as_its_policy_says,
    matrix::a_non_member_cannot_tell_a_hidden_incident_from_a_missing_one,
    api::first_admin_setup_works_once,
    api::sessions_are_http_only_strict_cookies_and_need_csrf,
    api::api_tokens_are_shown_once_stored_hashed_and_expire,
    api::login_is_throttled_per_account_with_retry_after,
    api::totp_is_enforced_once_enrolled,
    api::break_glass_is_journaled_and_excluded_admins_stay_out,
    api::a_second_responder_sees_nothing_until_added,
    api::openapi_covers_every_route,
    api::bad_json_gets_a_clear_400,
    evidence::evidence_streams_in_and_out_and_share_links_work_once,
    evidence::the_room_uploads_evidence_as_a_streamed_multipart_form,
    evidence::a_resumable_upload_survives_a_break_and_journals_from_where,
    evidence::legal_holds_and_retention_over_the_api_follow_the_roles,
    web::the_room_shares_an_item_once_and_never_a_red_one,
    web::every_form_refuses_a_post_without_the_csrf_field,
    web::security_incidents_keep_their_title_out_of_the_tab_and_other_lists,
    web::pages_carry_the_strict_csp_and_unknown_addresses_get_the_404_page,
    web::break_glass_shows_a_banner_and_people_forms_work,
    web::an_account_that_must_enrol_a_second_factor_is_sent_to_enrol,
    paging::pagerduty_events_are_answered_as_pagerduty_does_and_deduplicated,
    paging::a_key_over_its_rate_gets_429_with_retry_after,
    paging::alertmanager_groups_fire_and_resolve_by_fingerprint,
    paging::generic_webhooks_need_a_valid_signature_and_their_mapping,
    paging::security_alerts_exist_only_for_their_incidents_members,
    paging::escalation_follows_the_clock_and_stops_when_acknowledged,
    paging::a_webhook_page_carries_signed_links_that_act_only_after_confirmation,
    paging::a_storm_reaches_a_person_as_a_few_bundles,
    paging::the_on_call_page_and_api_name_who_is_on_call,
    paging::a_security_rule_turns_an_ordinary_alert_into_a_security_incident_for_the_security_on_call,
);
