"""A fake Xinference supervisor: launch (`?wait_ready=false`), instances, progress, terminate.

Answers as Xinference 4.x does (samples/xinference): FastAPI `{"detail": ...}` errors with
the actor's address in front, 400 for an unknown model or uid, 503 when the launch itself
fails on the workers (no free GPU or slot), a model CREATING for `polls_to_ready` instance
polls and then READY, on `worker`. `cancel_during_launch` cancels a launch after its first
poll, as a `POST /v1/models/{uid}/cancel` from another client does: its instance disappears.
`lost_worker` plays a worker that died holding the models: until its health checks fail, the
supervisor answers 500 with the refused connection to it.
"""

from __future__ import annotations

from typing import Any

from fakes._server import FakeServer, Reply, Request

_ACTOR = "[address=127.0.0.1:17561, pid=10224] "


def _detail(status: int, message: str) -> Reply:
    return Reply(status, {"detail": _ACTOR + message})


class FakeXinference(FakeServer):
    server_header = "uvicorn"

    def __init__(self) -> None:
        super().__init__()
        self.registered = {"smollm2-custom"}
        self.polls_to_ready = 2
        self.launch_failure: str | None = None  # the workers' refusal, answered with 503
        self.cancel_during_launch = False
        self.worker = "127.0.0.2:30001"
        self.lost_worker: str | None = None
        self.launching: dict[str, int] = {}  # uid -> instance polls left before READY
        self.ready: set[str] = set()
        self.route("GET", "/v1/cluster/auth", lambda r: Reply(200, {"auth": False}))
        self.route("POST", "/v1/models", self._launch)
        self.route("GET", "/v1/models/instances", self._instances)
        self.route("GET", "/v1/models/(?P<uid>[^/]+)/progress", self._progress)
        self.route("GET", "/v1/models/(?P<uid>[^/]+)", self._describe)
        self.route("DELETE", "/v1/models/(?P<uid>[^/]+)", self._terminate)

    def unknown_route(self, request: Request) -> Reply:
        return Reply(404, {"detail": "Not Found"})

    def _launch(self, request: Request) -> Reply:
        body: dict[str, Any] = request.json()
        name = body.get("model_name")
        if name not in self.registered:
            found = (
                f"Model not found, name: {name}, format: {body.get('model_format')}, "
                f"size: {body.get('model_size_in_billions')}, "
                f"quantization: {body.get('quantization')}"
            )
            return _detail(400, found)
        uid = str(body.get("model_uid") or name)
        if uid in self.launching or uid in self.ready:
            return _detail(400, f"Model is already in the model list, uid: {uid}")
        if self.launch_failure is not None:
            return _detail(503, self.launch_failure)
        self.launching[uid] = self.polls_to_ready
        return Reply(200, {"model_uid": uid})

    def _instances(self, request: Request) -> Reply:
        uid = request.query.get("model_uid", "")
        if uid in self.ready:
            return Reply(200, [self._instance(uid, "READY")])
        if uid not in self.launching:
            return Reply(200, [])
        if self.cancel_during_launch:
            del self.launching[uid]
        else:
            self.launching[uid] -= 1
            if self.launching[uid] <= 0:
                del self.launching[uid]
                self.ready.add(uid)
        return Reply(200, [self._instance(uid, "CREATING")])

    def _instance(self, uid: str, status: str) -> dict[str, Any]:
        return {
            "model_name": "smollm2-custom",
            "model_uid": uid,
            "model_ability": ["generate", "chat"],
            "replica": 1,
            "status": status,
            "instance_created_ts": 1760000000,
            "n_worker": 1,
            "replica_statuses": [
                {"replica_id": 0, "worker_address": self.worker, "status": status}
            ],
        }

    def _unreachable(self) -> Reply | None:
        if self.lost_worker is None:
            return None
        host, port = self.lost_worker.split(":")
        return _detail(500, f"[Errno 111] Connect call failed ('{host}', {port})")

    def _describe(self, request: Request) -> Reply:
        uid = request.params["uid"]
        if uid not in self.ready:
            return _detail(400, f"Model not found in the model list, uid: {uid}")
        return self._unreachable() or Reply(
            200, {"model_type": "LLM", "model_name": "smollm2-custom", "context_length": 8192}
        )

    def _progress(self, request: Request) -> Reply:
        uid = request.params["uid"]
        if uid not in self.launching and uid not in self.ready:
            return _detail(400, f"Model not found in the model list, uid: {uid}")
        return Reply(200, {"progress": 1.0 if uid in self.ready else 0.5, "stage": "loading"})

    def _terminate(self, request: Request) -> Reply:
        uid = request.params["uid"]
        if uid not in self.launching and uid not in self.ready:
            return _detail(400, f"Model not found in the model list, uid: {uid}")
        if lost := self._unreachable():
            return lost
        self.launching.pop(uid, None)
        self.ready.discard(uid)
        return Reply(200, None)
