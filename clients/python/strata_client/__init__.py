"""The Python client of strata, over grpcio.

    from strata_client import StrataClient

    with StrataClient("127.0.0.1:50051") as strata:
        answer = strata.batch_get(["u00000001"], fields=["lifecycle", "valueTier"])
        offers = strata.get_offers("u00000001", surface="checkout",
                                   cart_value=4990, currency="EUR")

One channel for the read side (BatchGetProfiles, GetOffers), health, the
write side (ApplyUpdates, GetIngestState) and the operators' AdminService.
The messages are the generated ones in `strata.v1` (shipped with this
package); a refused call raises `grpc.RpcError` with the gRPC code and the
server's message.
"""

from __future__ import annotations

import datetime
from typing import Iterable, List, Optional, Sequence, Union

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from strata.v1 import (
    admin_service_pb2,
    admin_service_pb2_grpc,
    ingest_service_pb2,
    ingest_service_pb2_grpc,
    profile_pb2,
    profile_service_pb2,
    profile_service_pb2_grpc,
)

__all__ = [
    "StrataClient",
    "field_path",
    "parse_target",
    "SURFACES",
    "admin_service_pb2",
    "ingest_service_pb2",
    "profile_pb2",
    "profile_service_pb2",
]

# Surfaces by the names the strata CLI uses (`strata offers --surface`).
SURFACES = {
    "checkout": profile_service_pb2.SURFACE_CHECKOUT,
    "home": profile_service_pb2.SURFACE_APP_HOME,
    "app-home": profile_service_pb2.SURFACE_APP_HOME,
    "push": profile_service_pb2.SURFACE_PUSH,
}

_PROFILE_FIELDS = profile_pb2.Profile.DESCRIPTOR.fields
# lowerCamelCase (proto3 JSON) and snake_case names of Profile's fields.
_FIELD_NAMES = {field.json_name: field.name for field in _PROFILE_FIELDS}
_FIELD_NAMES.update({field.name: field.name for field in _PROFILE_FIELDS})


def field_path(name: str) -> str:
    """A Profile field as the mask names it: `valueTier` and `value_tier` are
    both `value_tier`. An unknown name is kept as given, so the server's
    INVALID_ARGUMENT names it."""
    name = name.strip()
    return _FIELD_NAMES.get(name, name)


def parse_target(target: str, tls: bool = False) -> "tuple[str, bool]":
    """(host:port, use TLS) from `host:port`, `http://host:port` or
    `https://host:port`, as the strata CLI reads `--target`."""
    target = target.strip()
    for scheme, secure in (("https://", True), ("http://", False)):
        if target.startswith(scheme):
            return target[len(scheme):].rstrip("/"), secure
    if "://" in target:
        raise ValueError(f"target {target!r}: the scheme must be http:// or https:// (or give host:port)")
    return target, tls


def _timestamp(value: Union[None, datetime.datetime, timestamp_pb2.Timestamp]):
    if value is None or isinstance(value, timestamp_pb2.Timestamp):
        return value
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value.astimezone(datetime.timezone.utc) if value.tzinfo else value)
    return stamp


class StrataClient:
    """strata's services on one channel. Calls are safe from several threads.

    `target` is host:port or an http(s):// URL; https://, or any of
    `root_certificates`, `private_key` and `certificate_chain` (PEM bytes),
    turns TLS on. `token` is sent as `authorization: Bearer ...` and never
    printed.
    """

    def __init__(
        self,
        target: str = "127.0.0.1:50051",
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        timeout_seconds: float = 5.0,
        private_key: Optional[bytes] = None,
        certificate_chain: Optional[bytes] = None,
    ) -> None:
        tls_given = any(v is not None for v in (root_certificates, private_key, certificate_chain))
        address, tls = parse_target(target, tls_given)
        if tls_given and not tls:
            # As the strata CLI: plaintext would quietly drop the certificates.
            raise ValueError(f"target {target!r} is http://: use https:// (or host:port) with certificates")
        if tls:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=root_certificates,
                private_key=private_key,
                certificate_chain=certificate_chain,
            )
            self._channel = grpc.secure_channel(address, credentials)
        else:
            self._channel = grpc.insecure_channel(address)
        self._profiles = profile_service_pb2_grpc.ProfileServiceStub(self._channel)
        self._ingest = ingest_service_pb2_grpc.IngestServiceStub(self._channel)
        self._admin = admin_service_pb2_grpc.AdminServiceStub(self._channel)
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        # The token is a secret: never part of the printed form.
        return f"StrataClient(token={'<redacted>' if self._metadata else None})"

    def _call(self, method, request, timeout: Optional[float] = None):
        return method(request, metadata=self._metadata, timeout=timeout or self._timeout)

    # Read side.

    def batch_get(
        self, user_ids: Sequence[str], fields: Iterable[str] = ()
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        """Profiles in request order; unknown users have no `profile` and are in
        `missing_indices`. `fields` picks top-level Profile fields, in
        snake_case or lowerCamelCase (`value_tier` or `valueTier`)."""
        request = profile_service_pb2.BatchGetProfilesRequest(user_ids=list(user_ids))
        paths = [field_path(field) for field in fields if field.strip()]
        if paths:
            request.field_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
        return self._call(self._profiles.BatchGetProfiles, request)

    def get_offers(
        self,
        user_id: str,
        surface: Union[str, int] = "home",
        cart_value: Optional[int] = None,
        currency: str = "",
        max_offers: int = 0,
        request_time: Union[None, datetime.datetime, timestamp_pb2.Timestamp] = None,
        explain: bool = False,
    ) -> profile_service_pb2.GetOffersResponse:
        """Eligible benefits for one user, best first; `cold_start` is set for an
        unknown user. `surface` is "checkout", "home", "push" or a Surface
        number; at checkout, `cart_value` (minor units) and `currency` are
        required. `request_time` judges validity (default: the server's clock).
        With `explain=True` the answer's `explanation` lists every benefit
        considered with the rule that kept or dropped it (`verdict`, `detail`),
        e.g. for a checkout to log."""
        if isinstance(surface, str):
            if surface not in SURFACES:
                raise ValueError(f"surface {surface!r}: use one of {', '.join(SURFACES)}")
            surface = SURFACES[surface]
        context = profile_service_pb2.OfferContext(surface=surface, currency=currency)
        if cart_value is not None:
            context.cart_value = cart_value
        stamp = _timestamp(request_time)
        if stamp is not None:
            context.request_time.CopyFrom(stamp)
        request = profile_service_pb2.GetOffersRequest(
            user_id=user_id, context=context, max_offers=max_offers, explain=explain
        )
        return self._call(self._profiles.GetOffers, request)

    # Health.

    def health(self, service: str = "") -> str:
        """The serving status by name (`SERVING`, `NOT_SERVING`...) of the
        server (""), or of one service, e.g. "strata.v1.ProfileService"."""
        # Imported here: the rest of the client runs on grpcio and protobuf
        # alone (example.py from a checkout, without installing).
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        request = health_pb2.HealthCheckRequest(service=service)
        answer = self._call(health_pb2_grpc.HealthStub(self._channel).Check, request)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)

    # Write side.

    def apply_updates(
        self, batches: Iterable[ingest_service_pb2.ApplyUpdatesRequest]
    ) -> ingest_service_pb2.ApplyUpdatesResponse:
        """Streams numbered batches (one producer, sequences 1, 2, 3...) in one
        ApplyUpdates call; answered after the last is durable. A replayed
        sequence is acknowledged without effect, a gap is FAILED_PRECONDITION."""
        return self._ingest.ApplyUpdates(
            iter(list(batches)), metadata=self._metadata, timeout=self._timeout
        )

    def upsert(
        self,
        producer_id: str,
        sequence: int,
        profiles: Iterable[profile_pb2.Profile] = (),
        deletes: Iterable[str] = (),
        model_version: str = "",
    ) -> ingest_service_pb2.ApplyUpdatesResponse:
        """One batch: `profiles` written whole, `deletes` erased."""
        batch = ingest_service_pb2.ApplyUpdatesRequest(
            producer_id=producer_id,
            sequence=sequence,
            upserts=list(profiles),
            deletes=list(deletes),
            model_version=model_version,
        )
        return self.apply_updates([batch])

    def ingest_state(self, producer_id: str) -> int:
        """The producer's last applied sequence (0 before its first batch)."""
        request = ingest_service_pb2.GetIngestStateRequest(producer_id=producer_id)
        return self._call(self._ingest.GetIngestState, request).last_applied_sequence

    # Operators (the token needs the admin scope).

    def versions(self) -> List[admin_service_pb2.ModelVersion]:
        """Model versions: serving, previous, building, recently failed."""
        request = admin_service_pb2.ListVersionsRequest()
        return list(self._call(self._admin.ListVersions, request).versions)

    def stats(self) -> admin_service_pb2.StatsResponse:
        """The serving version's pyramid: users per layer, tier, quadrant, channel."""
        return self._call(self._admin.Stats, admin_service_pb2.StatsRequest())

    def load_snapshot(
        self, path: str, timeout_seconds: float = 3600.0
    ) -> admin_service_pb2.LoadSnapshotResponse:
        """Loads a snapshot file (a path on the server's disk) as a new version
        and returns once it serves; long, so its own timeout."""
        request = admin_service_pb2.LoadSnapshotRequest(path=path)
        return self._call(self._admin.LoadSnapshot, request, timeout=timeout_seconds)

    def rollback(self) -> admin_service_pb2.RollbackResponse:
        """Serves the previous model version again."""
        return self._call(self._admin.Rollback, admin_service_pb2.RollbackRequest())

    def create_backup(
        self, directory: str, timeout_seconds: float = 600.0
    ) -> admin_service_pb2.CreateBackupResponse:
        """A consistent checkpoint of the store into `directory` on the server's disk."""
        request = admin_service_pb2.CreateBackupRequest(dir=directory)
        return self._call(self._admin.CreateBackup, request, timeout=timeout_seconds)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "StrataClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
