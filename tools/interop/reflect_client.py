"""A gRPC client that knows nothing of SELECT's protos: everything comes from server reflection.

Python's grpcio-reflection reads the served FileDescriptorProtos into a descriptor pool (which checks
every file, import and type reference) and protobuf's message factory builds the request and response
classes from it. Prints JSON on stdout so a test (tools/interop, packages/testing) can assert on it.

  reflect_client.py ADDRESS list
  reflect_client.py ADDRESS describe SERVICE
  reflect_client.py ADDRESS call SERVICE/METHOD REQUEST_JSON [--max-responses N] [--timeout SECONDS]

`call` handles unary and server-streaming methods; a stream is read until it ends or N responses came
(then the call is cancelled). Exit status 0 when the call succeeded, 2 with {"code", "details"} on a
gRPC error.
"""

from __future__ import annotations

import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def field_type(field) -> str:
    if field.message_type is not None:
        return field.message_type.full_name
    if field.enum_type is not None:
        return field.enum_type.full_name
    names = {getattr(FieldDescriptor, k): k[len("TYPE_"):].lower() for k in dir(FieldDescriptor) if k.startswith("TYPE_")}
    return names.get(field.type, str(field.type))


def describe_message(descriptor) -> dict:
    return {
        "name": descriptor.full_name,
        "file": descriptor.file.name,
        "fields": [
            {
                "name": f.name,
                "number": f.number,
                "type": field_type(f),
                "repeated": f.is_repeated if hasattr(f, "is_repeated") else f.label == f.LABEL_REPEATED,
                "oneof": f.containing_oneof.name if f.containing_oneof is not None else None,
            }
            for f in descriptor.fields
        ],
    }


def describe_service(pool, name: str) -> dict:
    service = pool.FindServiceByName(name)
    return {
        "name": service.full_name,
        "file": service.file.name,
        "dependencies": [d.name for d in service.file.dependencies],
        "methods": [
            {
                "name": m.name,
                "input": describe_message(m.input_type),
                "output": describe_message(m.output_type),
                "client_streaming": m.client_streaming,
                "server_streaming": m.server_streaming,
            }
            for m in service.methods
        ],
    }


def call(channel, pool, target: str, request_json: str, max_responses: int | None, timeout: float) -> list:
    service_name, _, method_name = target.partition("/")
    method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    if method is None:
        raise SystemExit(f"{service_name} has no method {method_name}")
    if method.client_streaming:
        raise SystemExit(f"{target} takes a client stream; this client calls unary and server-streaming methods")
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(request_json, request_class())
    path = f"/{service_name}/{method_name}"
    to_json = lambda m: json_format.MessageToDict(m)  # noqa: E731  (JSON names, as grpcurl prints them)
    if not method.server_streaming:
        rpc = channel.unary_unary(path, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString)
        return [to_json(rpc(request, timeout=timeout))]
    rpc = channel.unary_stream(path, request_serializer=request_class.SerializeToString, response_deserializer=response_class.FromString)
    stream = rpc(request, timeout=timeout)
    responses = []
    for response in stream:
        responses.append(to_json(response))
        if max_responses is not None and len(responses) >= max_responses:
            stream.cancel()
            break
    return responses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address")
    parser.add_argument("command", choices=["list", "describe", "call"])
    parser.add_argument("target", nargs="?")
    parser.add_argument("request", nargs="?", default="{}")
    parser.add_argument("--max-responses", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args()

    with grpc.insecure_channel(args.address) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        pool = descriptor_pool.DescriptorPool(database)
        try:
            if args.command == "list":
                out = sorted(database.get_services())
            elif args.command == "describe":
                out = describe_service(pool, args.target)
            else:
                out = call(channel, pool, args.target, args.request, args.max_responses, args.timeout)
        except grpc.RpcError as error:
            json.dump({"code": error.code().name, "details": error.details()}, sys.stdout)
            print()
            return 2
    json.dump(out, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
