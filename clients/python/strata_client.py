"""A small Python client for strata's ProfileService, over grpcio.

The messages and stubs are generated from proto/ by generate.sh; put the
folder they were generated into on sys.path (or PYTHONPATH) before importing
this module.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

import grpc
from google.protobuf import field_mask_pb2

from strata.v1 import profile_service_pb2, profile_service_pb2_grpc


class StrataClient:
    """ProfileService on one channel. Calls are safe from several threads."""

    def __init__(
        self,
        target: str,
        token: Optional[str] = None,
        root_certificates: Optional[bytes] = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        if root_certificates is None:
            self._channel = grpc.insecure_channel(target)
        else:
            credentials = grpc.ssl_channel_credentials(root_certificates=root_certificates)
            self._channel = grpc.secure_channel(target, credentials)
        self._stub = profile_service_pb2_grpc.ProfileServiceStub(self._channel)
        # The token travels as call metadata; it is never printed.
        self._metadata = [("authorization", f"Bearer {token}")] if token else []
        self._timeout = timeout_seconds

    def batch_get(
        self, user_ids: Sequence[str], fields: Iterable[str] = ()
    ) -> profile_service_pb2.BatchGetProfilesResponse:
        """Profiles in request order; unknown users have no `profile` and are in
        `missing_indices`. `fields` picks top-level Profile fields."""
        request = profile_service_pb2.BatchGetProfilesRequest(user_ids=list(user_ids))
        paths = list(fields)
        if paths:
            request.field_mask.CopyFrom(field_mask_pb2.FieldMask(paths=paths))
        return self._stub.BatchGetProfiles(
            request, metadata=self._metadata, timeout=self._timeout
        )

    def get_offers(
        self,
        user_id: str,
        surface: int = profile_service_pb2.SURFACE_APP_HOME,
        cart_value: Optional[int] = None,
        currency: str = "",
        max_offers: int = 0,
    ) -> profile_service_pb2.GetOffersResponse:
        """Eligible benefits for one user, best first; `cold_start` is set for an
        unknown user. At checkout, cart_value (minor units) and currency are required."""
        context = profile_service_pb2.OfferContext(surface=surface, currency=currency)
        if cart_value is not None:
            context.cart_value = cart_value
        request = profile_service_pb2.GetOffersRequest(
            user_id=user_id, context=context, max_offers=max_offers
        )
        return self._stub.GetOffers(request, metadata=self._metadata, timeout=self._timeout)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "StrataClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
