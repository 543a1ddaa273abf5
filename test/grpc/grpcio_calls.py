"""Calls the service with grpcio (gRPC's C core, the library under tritonclient.grpc) and stubs
that grpc_tools.protoc generated from the project's proto/grpc_service.proto; used by
test/grpc/grpcio.test.ts.

Reads one JSON object on stdin:
  {"target": "127.0.0.1:PORT", "stubs": DIR,
   "calls": [{"method": "ModelInfer", "request": {...}, "timeout": 10}, ...],
   "health": ["", "inference.GRPCInferenceService"]}
A request is the message in protobuf's JSON mapping (json_format.ParseDict: bytes as base64,
int64 as text). Writes one JSON object on stdout: each call's answer in the same mapping
(proto field names) or its status's name and details, each health service's status number, and
the library versions.
"""
import json
import sys

import grpc
from google.protobuf import json_format
import google.protobuf

job = json.load(sys.stdin)
sys.path.insert(0, job["stubs"])
import grpc_service_pb2 as pb  # noqa: E402  (generated into job["stubs"])
import grpc_service_pb2_grpc as rpc  # noqa: E402

# tritonclient.grpc's channel options: no message size limits on either side.
channel = grpc.insecure_channel(
    job["target"],
    options=[("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)],
)
stub = rpc.GRPCInferenceServiceStub(channel)
service = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"]

results = []
for call in job.get("calls", []):
    method = service.methods_by_name[call["method"]]
    request = json_format.ParseDict(call.get("request", {}), getattr(pb, method.input_type.name)())
    try:
        answer = getattr(stub, call["method"])(request, timeout=call.get("timeout", 10))
        results.append({"ok": json_format.MessageToDict(answer, preserving_proto_field_name=True)})
    except grpc.RpcError as e:
        results.append({"code": e.code().name, "details": e.details()})

# grpc.health.v1.Health/Check without its generated stubs: HealthCheckRequest is field 1
# (service, a string), HealthCheckResponse field 1 (status, an enum varint; SERVING = 1).
check = channel.unary_unary("/grpc.health.v1.Health/Check")
health = []
for name in job.get("health", []):
    raw = name.encode("utf-8")
    answer = check(b"\x0a" + bytes([len(raw)]) + raw if raw else b"", timeout=5)
    health.append(answer[1] if len(answer) >= 2 and answer[0] == 0x08 else 0)

channel.close()
json.dump({"results": results, "health": health, "versions": {"grpcio": grpc.__version__, "protobuf": google.protobuf.__version__}}, sys.stdout)
