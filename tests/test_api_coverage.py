"""docs/API-COVERAGE.md says only what works end to end.

Every operation of a row marked "done" is in the OpenAPI document and is exercised by an
end-to-end test named below (a test of a real server: a ``server`` or ``tenant`` fixture, or
its own ``start_server``), whose code calls the method and names the path's last segment.
``E2E`` lists nothing the table does not mark done. Adding an operation: mark it done in the
table, and name its end-to-end test here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from textos.api.app import API_PREFIX
from textos.config import Settings
from textos.server import build_app

TESTS = Path(__file__).resolve().parent
TABLE = TESTS.parent / "docs" / "API-COVERAGE.md"

E2E: dict[str, str] = {
    "GET /auth/time": "e2e/test_auth.py::test_auth_time_is_unauthenticated",
    "POST /auth/credential": "e2e/test_auth.py::test_consumer_key_request_and_validation_page",
    "GET /auth/currentCredential": "e2e/test_auth.py::test_a_key_logged_out_through_the_api_is_refused_at_once_under_load",
    "POST /auth/logout": "e2e/test_auth.py::test_a_key_logged_out_through_the_api_is_refused_at_once_under_load",
    "GET /me/api/application": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "GET /me/api/application/{applicationId}": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "DELETE /me/api/application/{applicationId}": "e2e/test_delegated_keys.py::test_deleting_an_application_deletes_its_keys_at_once",
    "GET /me/api/credential": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "GET /me/api/credential/{credentialId}": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "PUT /me/api/credential/{credentialId}": "e2e/test_delegated_keys.py::test_a_customer_limits_where_a_key_may_be_used_from",
    "DELETE /me/api/credential/{credentialId}": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "GET /me/api/credential/{credentialId}/application": "e2e/test_delegated_keys.py::test_a_customer_lists_reads_and_deletes_its_keys_and_the_deleted_key_is_refused_at_once",
    "GET /auth/details": "e2e/test_account_api.py::test_auth_details_name_the_caller_and_its_rules",
    "GET /sms": "e2e/test_auth.py::test_list_shows_only_granted_accounts",
    "GET /sms/{serviceName}": "e2e/test_account_api.py::test_an_account_is_read_described_and_its_service_infos_shown",
    "PUT /sms/{serviceName}": "e2e/test_account_api.py::test_an_account_is_read_described_and_its_service_infos_shown",
    "GET /sms/{serviceName}/serviceInfos": "e2e/test_account_api.py::test_an_account_is_read_described_and_its_service_infos_shown",
    "POST /sms/{serviceName}/jobs": "e2e/test_story.py::test_send_three_receivers_with_tag_and_see_them_delivered",
    "GET /sms/{serviceName}/jobs": "e2e/test_jobs_api.py::test_deferred_job_is_pending_and_delete_refunds_it",
    "GET /sms/{serviceName}/jobs/{id}": "e2e/test_jobs_api.py::test_deferred_job_is_pending_and_delete_refunds_it",
    "DELETE /sms/{serviceName}/jobs/{id}": "e2e/test_jobs_api.py::test_deferred_job_is_pending_and_delete_refunds_it",
    "GET /sms/{serviceName}/outgoing": "e2e/test_jobs_api.py::test_outgoing_filters",
    "GET /sms/{serviceName}/outgoing/{id}": "e2e/test_jobs_api.py::test_outgoing_filters",
    "DELETE /sms/{serviceName}/outgoing/{id}": "e2e/test_jobs_api.py::test_outgoing_filters",
    "GET /sms/{serviceName}/incoming": "e2e/test_two_way_sms.py::test_a_reply_reaches_incoming_with_its_tag_and_is_charged_answered_and_deleted",
    "GET /sms/{serviceName}/incoming/{id}": "e2e/test_two_way_sms.py::test_a_reply_reaches_incoming_with_its_tag_and_is_charged_answered_and_deleted",
    "DELETE /sms/{serviceName}/incoming/{id}": "e2e/test_two_way_sms.py::test_a_reply_reaches_incoming_with_its_tag_and_is_charged_answered_and_deleted",
    "GET /sms/{serviceName}/receivers": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "POST /sms/{serviceName}/receivers": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "GET /sms/{serviceName}/receivers/{slotId}": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "PUT /sms/{serviceName}/receivers/{slotId}": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "DELETE /sms/{serviceName}/receivers/{slotId}": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "GET /sms/{serviceName}/receivers/{slotId}/csv": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "POST /sms/{serviceName}/receivers/{slotId}/clean": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "GET /sms/{serviceName}/task": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "GET /sms/{serviceName}/task/{taskId}": "e2e/test_bulk_campaigns.py::test_slot_lifecycle",
    "GET /sms/{serviceName}/batches": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "POST /sms/{serviceName}/batches": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "GET /sms/{serviceName}/batches/{id}": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "PUT /sms/{serviceName}/batches/{id}": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "DELETE /sms/{serviceName}/batches/{id}": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "GET /sms/{serviceName}/batches/{id}/statistics": "e2e/test_bulk_campaigns.py::test_batch_with_receivers_statistics_after_delivery",
    "POST /sms/{serviceName}/batches/{id}/cancel": "e2e/test_bulk_campaigns.py::test_batch_from_slot_deferred_then_canceled_is_refunded",
    "POST /sms/estimate": "e2e/test_jobs_api.py::test_estimate_and_job_agree_on_parts_and_credits",
    "GET /sms/ptts": "e2e/test_account_api.py::test_ptt_codes_are_explained",
    "GET /sms/rates/destinations": "e2e/test_billing_api.py::test_rates_answer_sms_json_models_exactly",
    "GET /sms/rates/packs": "e2e/test_billing_api.py::test_rates_answer_sms_json_models_exactly",
    "GET /sms/{serviceName}/senders": "api/test_sender_routes.py::test_ask_validate_use_disable_delete",
    "POST /sms/{serviceName}/senders": "api/test_sender_routes.py::test_ask_validate_use_disable_delete",
    "GET /sms/{serviceName}/senders/{sender}": "api/test_sender_routes.py::test_ask_validate_use_disable_delete",
    "PUT /sms/{serviceName}/senders/{sender}": "api/test_sender_routes.py::test_ask_validate_use_disable_delete",
    "DELETE /sms/{serviceName}/senders/{sender}": "api/test_sender_routes.py::test_ask_validate_use_disable_delete",
    "GET /order/sms": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "GET /order/sms/{serviceName}": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "GET /order/sms/{serviceName}/credits": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "POST /order/sms/{serviceName}/credits": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "GET /order/sms/new": "e2e/test_billing_api.py::test_order_a_new_account_created_when_paid",
    "POST /order/sms/new": "e2e/test_billing_api.py::test_order_a_new_account_created_when_paid",
    "GET /me/order": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "GET /me/order/{orderId}": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "GET /me/order/{orderId}/status": "e2e/test_billing_api.py::test_order_preview_create_pay_twice_credits_once",
    "POST /sms/{serviceName}/transferCredits": "e2e/test_billing_api.py::test_transfers_between_accounts",
    "GET /sms/{serviceName}/ledger": "e2e/test_billing_api.py::test_ledger_api_filters",
    "GET /sms/{serviceName}/users/{login}/outgoing": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "GET /sms/{serviceName}/users/{login}/outgoing/{id}": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "DELETE /sms/{serviceName}/users/{login}/outgoing/{id}": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "GET /sms/{serviceName}/users/{login}/outgoing/{id}/hlr": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "GET /sms/{serviceName}/users/{login}/incoming": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "GET /sms/{serviceName}/users/{login}/incoming/{id}": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "DELETE /sms/{serviceName}/users/{login}/incoming/{id}": "e2e/test_user_scope_api.py::test_a_users_outgoing_and_incoming_are_its_own",
    "GET /sms/{serviceName}/users/{login}/receivers": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "POST /sms/{serviceName}/users/{login}/receivers": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "GET /sms/{serviceName}/users/{login}/receivers/{slotId}": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "PUT /sms/{serviceName}/users/{login}/receivers/{slotId}": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "DELETE /sms/{serviceName}/users/{login}/receivers/{slotId}": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "GET /sms/{serviceName}/users/{login}/receivers/{slotId}/csv": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "POST /sms/{serviceName}/users/{login}/receivers/{slotId}/clean": "e2e/test_user_scope_api.py::test_a_user_has_receiver_slots_of_its_own",
    "GET /sms/{serviceName}/callbacks": "e2e/test_callback_delivery.py::test_events_are_listed_shown_and_replayed_through_the_api",
    "GET /sms/{serviceName}/callbacks/{id}": "e2e/test_callback_delivery.py::test_events_are_listed_shown_and_replayed_through_the_api",
    "POST /sms/{serviceName}/callbacks/{id}/replay": "e2e/test_callback_delivery.py::test_events_are_listed_shown_and_replayed_through_the_api",
    "GET /sms/virtualNumbers": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/virtualNumbers/{number}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "POST /sms/{serviceName}/virtualNumbers/{number}/jobs": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/jobs": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/jobs/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "DELETE /sms/{serviceName}/virtualNumbers/{number}/jobs/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/outgoing": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/outgoing/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "DELETE /sms/{serviceName}/virtualNumbers/{number}/outgoing/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/incoming": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/virtualNumbers/{number}/incoming/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "DELETE /sms/{serviceName}/virtualNumbers/{number}/incoming/{id}": "e2e/test_virtual_number_api.py::test_send_from_a_virtual_number_and_receive_on_it",
    "GET /sms/{serviceName}/blacklists": "e2e/test_stops.py::test_a_handset_answering_stop_is_blacklisted_and_the_next_commercial_sms_is_neither_sent_nor_charged",
    "GET /sms/{serviceName}/blacklists/{number}": "e2e/test_stops.py::test_a_handset_answering_stop_is_blacklisted_and_the_next_commercial_sms_is_neither_sent_nor_charged",
    "DELETE /sms/{serviceName}/blacklists/{number}": "e2e/test_stops.py::test_a_handset_answering_stop_is_blacklisted_and_the_next_commercial_sms_is_neither_sent_nor_charged",
    "GET /sms/{serviceName}/users": "e2e/test_users_api.py::test_a_users_lifecycle",
    "POST /sms/{serviceName}/users": "e2e/test_users_api.py::test_a_users_lifecycle",
    "GET /sms/{serviceName}/users/{login}": "e2e/test_users_api.py::test_a_users_lifecycle",
    "PUT /sms/{serviceName}/users/{login}": "e2e/test_users_api.py::test_a_users_lifecycle",
    "DELETE /sms/{serviceName}/users/{login}": "e2e/test_users_api.py::test_a_users_lifecycle",
    "GET /sms/{serviceName}/users/{login}/jobs": "e2e/test_users_api.py::test_a_users_jobs_are_paid_from_its_quota_and_listed_only_under_it",
    "POST /sms/{serviceName}/users/{login}/jobs": "e2e/test_users_api.py::test_a_users_jobs_are_paid_from_its_quota_and_listed_only_under_it",
    "GET /sms/{serviceName}/users/{login}/jobs/{id}": "e2e/test_users_api.py::test_a_users_jobs_are_paid_from_its_quota_and_listed_only_under_it",
    "DELETE /sms/{serviceName}/users/{login}/jobs/{id}": "e2e/test_users_api.py::test_a_users_jobs_are_paid_from_its_quota_and_listed_only_under_it",
    "GET /sms/{serviceName}/document": "e2e/test_consumption_documents.py::test_the_csv_export_of_a_period_holds_the_messages_sent_neutralised",
    "GET /me/document/{id}": "e2e/test_consumption_documents.py::test_the_csv_export_of_a_period_holds_the_messages_sent_neutralised",
    "GET /sms/{serviceName}/users/{login}/document": "e2e/test_consumption_documents.py::test_a_users_export_and_the_consumption_report_agree_with_the_outgoing_list",
    "GET /sms/{serviceName}/consumption": "e2e/test_consumption_documents.py::test_a_users_export_and_the_consumption_report_agree_with_the_outgoing_list",
    "GET /sms/{serviceName}/reports/tags/{tag}": "e2e/test_campaign_reports.py::test_the_report_endpoint_agrees_with_the_outgoing_list_on_the_same_data",
    "GET /sms/{serviceName}/reports": "e2e/test_campaign_reports.py::test_the_report_endpoint_agrees_with_the_outgoing_list_on_the_same_data",
    "GET /sms/{serviceName}/reports/batches/{id}": "e2e/test_campaign_reports.py::test_a_batch_is_reported_and_an_unknown_one_is_not_found",
}

OPERATION = re.compile(r"`((?:GET|POST|PUT|DELETE)(?:/(?:GET|POST|PUT|DELETE))*) (/[^`\s]*)`")
CALLS = {"GET": (".get(",), "POST": (".post(", "request_consumerkey("), "PUT": (".put(",), "DELETE": (".delete(",)}


def done_operations() -> set[str]:
    """The operations of the table's rows whose status starts with "done"."""
    found: set[str] = set()
    for line in TABLE.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or not cells[1].startswith("done"):
            continue
        for methods, path in OPERATION.findall(cells[0]):
            found.update(f"{method} {path}" for method in methods.split("/"))
    return found


def served_operations(tmp: Path) -> set[str]:
    """The operations of the OpenAPI document (a database is named, never opened)."""
    app = build_app(Settings(database_url=f"sqlite:///{tmp / 'unused.db'}", simulator="inprocess"), migrate=False, dispatch=False)
    try:
        return {f"{method.upper()} {path.removeprefix(API_PREFIX)}" for path, ops in app.openapi()["paths"].items() for method in ops}
    finally:
        app.state.auth_cache.close()
        app.state.textos.db.dispose()


def test_the_table_marks_operations_done():
    assert len(done_operations()) >= 50 and "GET /sms/{serviceName}/task/{taskId}" in done_operations()


def test_every_operation_marked_done_is_served(tmp_path):
    assert sorted(done_operations() - served_operations(tmp_path)) == []


def test_every_operation_marked_done_has_its_end_to_end_test_and_no_other_is_listed():
    done = done_operations()
    assert sorted(done - set(E2E)) == [], "mark them done only with an end-to-end test named in E2E"
    assert sorted(set(E2E) - done) == [], "E2E names operations the table does not mark done"


def _test_function(node_id: str) -> tuple[ast.FunctionDef, str]:
    path, name = node_id.split("::")
    source = (TESTS / path).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node, ast.get_source_segment(source, node) or ""
    raise AssertionError(f"{node_id}: no such test")


@pytest.mark.parametrize("operation", sorted(E2E))
def test_the_named_test_runs_a_real_server_and_calls_the_operation(operation):
    node, code = _test_function(E2E[operation])
    method, path = operation.split(" ", 1)
    fixtures = {a.arg for a in node.args.args}
    assert fixtures & {"server", "tenant"} or "start_server(" in code, f"{E2E[operation]} runs no server"
    assert any(call in code for call in CALLS[method]), f"{E2E[operation]} never calls {method}"
    last = [s for s in path.split("/") if s and not s.startswith("{")][-1]
    assert last in code, f"{E2E[operation]} never names {last!r} of {path}"
