"""Calls a strata server from Python and prints the answers as JSON.

    pip install ./clients/python
    python3 clients/python/example.py --target 127.0.0.1:50051 \
        batch-get u00000001 u00000002 --fields lifecycle,valueTier
    python3 clients/python/example.py --target 127.0.0.1:50051 \
        offers u00000001 --checkout 5000 --currency EUR

Run from the repository it also works without installing the package (the
generated code is checked in), given grpcio and protobuf.

A failed call exits with status 2 and prints the gRPC code and message on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import grpc
from google.protobuf import json_format

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strata_client import StrataClient  # noqa: E402
from strata.v1 import profile_service_pb2  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="127.0.0.1:50051",
                        help="host:port or http(s)://host:port")
    parser.add_argument(
        "--token",
        default=os.environ.get("STRATA_TOKEN"),
        help="bearer token (default: $STRATA_TOKEN)",
    )
    parser.add_argument("--ca", help="PEM file of the CA to trust: use TLS")
    commands = parser.add_subparsers(dest="command", required=True)
    batch = commands.add_parser("batch-get", help="BatchGetProfiles")
    batch.add_argument("user_ids", nargs="+")
    batch.add_argument("--fields", default="",
                       help="comma-separated Profile fields, e.g. lifecycle,valueTier")
    offers = commands.add_parser("offers", help="GetOffers")
    offers.add_argument("user_id")
    offers.add_argument("--checkout", type=int, metavar="CART_VALUE",
                        help="ask at checkout with this cart value (minor units)")
    offers.add_argument("--currency", default="")
    offers.add_argument("--max-offers", type=int, default=0)
    args = parser.parse_args()

    root_certificates = open(args.ca, "rb").read() if args.ca else None
    with StrataClient(args.target, args.token, root_certificates) as client:
        try:
            if args.command == "batch-get":
                fields = [field for field in args.fields.split(",") if field]
                answer = client.batch_get(args.user_ids, fields)
            else:
                surface = (
                    profile_service_pb2.SURFACE_CHECKOUT
                    if args.checkout is not None
                    else profile_service_pb2.SURFACE_APP_HOME
                )
                answer = client.get_offers(
                    args.user_id, surface, args.checkout, args.currency, args.max_offers
                )
        except grpc.RpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 2
    print(json.dumps(json_format.MessageToDict(answer, preserving_proto_field_name=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
