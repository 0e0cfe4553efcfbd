"""Log in, create an API key, and pull a line's OEE with that key.

Uses only the client that openapi-python-client generates from
openapi/openapi.json, with no hand edits (.ci/openapi-client.sh generates it
into target/ and runs this script against a demo server):

    openapi-python-client generate --path openapi/openapi.json --meta none \
        --output-path target/openapi-client/camet_analytics_api_client
    PYTHONPATH=target/openapi-client python3 examples/python_client/pull_oee.py \
        --base-url http://127.0.0.1:8080 --username admin --password '...' --line-id 1

Prints one JSON line with the figures; exits 1 (naming the step) when an
answer is not the one expected.
"""

import argparse
import datetime
import json
import sys

from camet_analytics_api_client import AuthenticatedClient, Client
from camet_analytics_api_client.api.auth import post_api_v1_auth_login
from camet_analytics_api_client.api.kpi import get_api_v1_metrics_oee, post_api_v1_metrics_oee
from camet_analytics_api_client.api.tenant import get_api_v1_tenant
from camet_analytics_api_client.api.users import post_api_v1_api_keys
from camet_analytics_api_client.models import (
    CreateApiKeyRequest,
    CreatedApiKey,
    KpiFilters,
    LoginRequest,
    OeeResponse,
    Role,
    TenantView,
    TokenResponse,
)


def expect(answer, kind, step):
    """The answer of `step`, which must be a `kind` (else a Problem or None)."""
    if not isinstance(answer, kind):
        detail = answer.to_dict() if hasattr(answer, "to_dict") else answer
        sys.exit(f"{step}: expected {kind.__name__}, got {detail!r}")
    return answer


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--line-id", type=int, default=1)
    args = parser.parse_args()

    # 1. Log in: the answer is parsed into typed models (its `role` is an enum).
    with Client(base_url=args.base_url, timeout=30.0) as anonymous:
        tokens = expect(
            post_api_v1_auth_login.sync(
                client=anonymous, body=LoginRequest(username=args.username, password=args.password)
            ),
            TokenResponse,
            "login",
        )
    if tokens.user.role != Role.ADMIN:
        sys.exit(f"login: expected an admin, got {tokens.user.role!r}")

    # 2. Create an API key for an ERP that only reads.
    with AuthenticatedClient(base_url=args.base_url, token=tokens.access_token, timeout=30.0) as user:
        created = expect(
            post_api_v1_api_keys.sync(client=user, body=CreateApiKeyRequest(name="erp-pull", role=Role.VIEWER)),
            CreatedApiKey,
            "create API key",
        )
    if created.api_key.role != Role.VIEWER:
        sys.exit(f"create API key: expected a viewer key, got {created.api_key.role!r}")

    # 3. Pull with the key only: the tenant, then the OEE of the last week.
    with AuthenticatedClient(
        base_url=args.base_url, token=created.key, prefix="", auth_header_name="X-API-Key", timeout=60.0
    ) as erp:
        tenant = expect(get_api_v1_tenant.sync(client=erp), TenantView, "tenant")
        # Local dates: eight days back to tomorrow covers the demo's seven days in any zone.
        today = datetime.datetime.now(datetime.timezone.utc).date()
        start = (today - datetime.timedelta(days=8)).isoformat()
        end = (today + datetime.timedelta(days=1)).isoformat()
        oee = expect(
            post_api_v1_metrics_oee.sync(
                client=erp, body=KpiFilters(line_id=args.line_id, start_date=start, end_date=end)
            ),
            OeeResponse,
            "OEE (POST)",
        )
        pulled = expect(
            get_api_v1_metrics_oee.sync(client=erp, line_id=args.line_id, start_date=start, end_date=end),
            OeeResponse,
            "OEE (GET)",
        )
    if oee.planned_time_seconds <= 0 or oee.total_production <= 0:
        sys.exit(f"OEE: the demo's last week has planned time and production, got {oee.to_dict()}")
    if (pulled.planned_time_seconds, pulled.total_production) != (oee.planned_time_seconds, oee.total_production):
        sys.exit(f"OEE: GET and POST disagree: {pulled.to_dict()} vs {oee.to_dict()}")
    print(
        json.dumps(
            {
                "tenant": tenant.name,
                "timezone": tenant.timezone,
                "filters": len(tenant.filters),
                "api_key_prefix": created.api_key.key_prefix,
                "line_id": oee.line_id,
                "start_date": oee.start_date,
                "end_date": oee.end_date,
                "planned_time_seconds": oee.planned_time_seconds,
                "total_production": oee.total_production,
                "oee": oee.oee,
            }
        )
    )


if __name__ == "__main__":
    main()
