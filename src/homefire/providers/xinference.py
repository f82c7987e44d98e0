"""Xinference: chat with a launched model by its uid, and launch / terminate models.

Xinference is a cluster (one supervisor, any number of workers): the REST API is the
supervisor's, a launched model may live on any worker, and nothing here assumes one node.
`nodes()` lists the cluster, `ModelInfo.nodes` says which workers serve a model, and a model
whose worker stopped answering raises `WorkerLostError`.
`context_window=N` is applied as `n_ctx` when this provider launches a model.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict, Unpack

from homefire.errors import (
    APIStatusError,
    GenerationError,
    HomefireError,
    HomefireTimeoutError,
    InvalidParameterError,
    ModelNotFoundError,
    NotSupportedError,
    ServerBusyError,
    WorkerLostError,
)
from homefire.progress import ProgressCallback
from homefire.protocols import xinference
from homefire.protocols.errors import error_details, error_from_response
from homefire.protocols.xinference import NodeInfo
from homefire.providers._server import Call, Pause, Plan, ServerLLM
from homefire.types import LoadRequest, ModelInfo


class LaunchSettings(TypedDict, total=False):
    """How `Xinference.launch` starts a model (see its docstring)."""

    model_uid: str | None
    model_engine: str
    model_format: str | None
    model_size_in_billions: int | str | None
    quantization: str | None
    n_gpu: int | str | None
    replica: int
    n_ctx: int | None
    worker_ip: str | None
    gpu_idx: list[int] | None
    engine_options: Mapping[str, Any] | None
    timeout: float
    progress: ProgressCallback | None
    poll_interval: float


class Xinference(ServerLLM):
    """A model launched on Xinference (default `http://127.0.0.1:9997`).

    `model_uid` names a running model (see `models()`), or is set by `launch()`. `api_key`
    (an API key or a login token) defaults to `$XINFERENCE_API_KEY`.
    """

    health_path: ClassVar[str | None] = "/v1/cluster/auth"

    def __init__(
        self,
        model_uid: str | None = None,
        *,
        api_key: str | None = None,
        model: str | None = None,
        **kwargs: Any,
    ) -> None:
        if model_uid is not None and model is not None and model_uid != model:
            raise InvalidParameterError("model", "pass model_uid or model, not both")
        super().__init__(model_uid or model, api_key=api_key, **kwargs)
        # Xinference reports the model family's context, not the n_ctx a launch asked for
        self._launched_ctx: dict[str, int] = {}

    @property
    def model_uid(self) -> str | None:
        return self.model

    def _http_error(self, status: int, body: Any, *, url: str | None = None) -> HomefireError:
        message, _, _ = error_details(body)
        worker = xinference.unreachable_node(message)
        if worker is not None:
            return WorkerLostError(
                f"HTTP {status} from {url}: {message}. The Xinference node {worker} that holds "
                "this model does not answer its supervisor: the worker stopped or its machine "
                "is down. Restart the worker, or launch the model again on a live one (see "
                "nodes()); the supervisor forgets the worker and its models once its health "
                "checks fail",
                worker=worker,
                url=url,
                status=status,
                body=body,
            )
        if status in (400, 404) and "not found in the model list" in message.lower():
            return ModelNotFoundError(
                f"HTTP {status} from {url}: {message}. Xinference lists only running models: "
                "see models(), and launch() the model first; a model whose worker left the "
                "cluster (see nodes()) is gone with it and must be launched again",
                url=url,
                status=status,
                body=body,
            )
        if status == 400 and "not found" in message.lower():
            return ModelNotFoundError(
                f"HTTP 400 from {url}: {message}. List the running models with models(), "
                "or launch() the model first",
                url=url,
                status=status,
                body=body,
            )
        if status == 500 and "request failed" in message:
            context = self._launched_ctx.get(self.model or "")
            limit = f" (n_ctx={context})" if context else ""
            return APIStatusError(
                f"HTTP 500 from {url}: {message}. Xinference hides the cause; a prompt longer "
                f"than the model's context{limit} is the usual one: shorten it or launch with "
                "a larger n_ctx",
                url=url,
                status=status,
                body=body,
            )
        return error_from_response(status, body, url=url)

    def _uid(self, model_uid: str | None) -> str:
        uid = model_uid or self.model
        if uid is None:
            raise InvalidParameterError("model_uid", "name a running model (see `models()`)")
        return uid

    # --- lifecycle ------------------------------------------------------------------------

    def _in_effect(self, info: ModelInfo) -> ModelInfo:
        if info.id in self._launched_ctx:
            info.context_length = self._launched_ctx[info.id]
        return info

    def _models(self) -> Plan[list[ModelInfo]]:
        """The running models, each under its uid, with context, quantization, abilities and
        the workers that serve it.

        `context_length` is the n_ctx of launches made through this object, else the model
        family's (Xinference does not report a launch's n_ctx).
        """
        listing = yield Call("GET", "/v1/models")
        placements = xinference.parse_placements((yield Call("GET", "/v1/models/instances")))
        return [self._in_effect(m) for m in xinference.parse_models(listing, placements)]

    def _description(self, model_uid: str | None) -> Plan[ModelInfo]:
        uid = self._uid(model_uid)
        body = yield Call("GET", f"/v1/models/{uid}")
        instances = yield Call("GET", "/v1/models/instances", params={"model_uid": uid})
        nodes = xinference.parse_placements(instances).get(uid, [])
        return self._in_effect(xinference.parse_describe(uid, body, nodes))

    def describe(self, model_uid: str | None = None) -> ModelInfo:
        """One running model (this provider's unless `model_uid` names another), with the
        workers that serve it in `nodes`."""
        return self._run(self._description(model_uid))

    async def adescribe(self, model_uid: str | None = None) -> ModelInfo:
        return await self._arun(self._description(model_uid))

    def launch(self, model_name: str, **settings: Unpack[LaunchSettings]) -> str:
        """Launch a registered model and wait until every replica is READY; returns its uid.

        `n_ctx` defaults to this provider's `context_window`; `engine_options` are passed
        through to the engine (e.g. `{"n_parallel": 4}` for llama.cpp). The supervisor picks
        the worker unless `worker_ip` (and `gpu_idx`) pin it. This provider then talks to the
        launched model unless it was created for another uid.
        """
        return self._run(self._launch(model_name, **settings))

    async def alaunch(self, model_name: str, **settings: Unpack[LaunchSettings]) -> str:
        """`launch` without blocking the event loop."""
        return await self._arun(self._launch(model_name, **settings))

    def _launch(
        self,
        model_name: str,
        *,
        model_uid: str | None = None,
        model_engine: str = "llama.cpp",
        model_format: str | None = None,
        model_size_in_billions: int | str | None = None,
        quantization: str | None = None,
        n_gpu: int | str | None = "auto",
        replica: int = 1,
        n_ctx: int | None = None,
        worker_ip: str | None = None,
        gpu_idx: list[int] | None = None,
        engine_options: Mapping[str, Any] | None = None,
        timeout: float = 600.0,
        progress: ProgressCallback | None = None,
        poll_interval: float = 0.5,
    ) -> Plan[str]:
        """The plan behind `launch`."""
        body = xinference.build_launch_body(
            model_name,
            model_uid=model_uid,
            model_engine=model_engine,
            model_format=model_format,
            model_size_in_billions=model_size_in_billions,
            quantization=quantization,
            n_gpu=n_gpu,
            replica=replica,
            n_ctx=n_ctx if n_ctx is not None else self.context_window,
            worker_ip=worker_ip,
            gpu_idx=gpu_idx,
            engine_options=engine_options,
        )
        uid = xinference.parse_launch((yield from self._post_launch(model_name, body, timeout)))
        yield from self._wait_launched(uid, timeout, progress, poll_interval)
        if isinstance(body.get("n_ctx"), int):
            self._launched_ctx[uid] = body["n_ctx"]
        if self.model is None:
            self.model = uid
        self._metadata = None
        return uid

    def _post_launch(self, model_name: str, body: dict[str, Any], timeout: float) -> Plan[Any]:
        """POST the launch once: Xinference answers 503 when the launch itself failed."""
        try:
            return (
                yield Call(
                    "POST", "/v1/models?wait_ready=false", body, timeout=timeout, retry=False
                )
            )
        except ServerBusyError as exc:
            if exc.status != 503:
                raise
            message, _, _ = error_details(exc.body)
            raise APIStatusError(
                f"Xinference could not launch {model_name!r}: {message}. It answers 503 when "
                "the launch fails on its workers (no free GPU or memory, a bad engine setting): "
                "free resources or change the launch settings, then launch again",
                url=exc.url,
                status=exc.status,
                body=exc.body,
            ) from None

    def _wait_launched(
        self,
        uid: str,
        timeout: float,
        progress: ProgressCallback | None,
        poll_interval: float,
    ) -> Plan[None]:
        end = time.monotonic() + timeout
        first = True
        while True:
            status = xinference.parse_instance_status(
                (yield Call("GET", "/v1/models/instances", params={"model_uid": uid}))
            )
            if status == "READY":
                return
            if status == "ERROR":
                raise GenerationError(
                    f"Xinference failed to launch {uid!r}; its supervisor log says why"
                )
            if status is None and not first:
                raise GenerationError(
                    f"Xinference no longer lists {uid!r} while launching it: the launch was "
                    "cancelled or the model terminated; launch it again"
                )
            first = False
            if progress is not None:
                answer = yield Call("GET", f"/v1/models/{uid}/progress")
                progress(xinference.parse_progress(answer))
            if time.monotonic() > end:
                raise HomefireTimeoutError("launch", timeout, f"Xinference launched {uid!r}")
            yield Pause(poll_interval)

    def _terminate(self, model_uid: str | None) -> Plan[None]:
        uid = self._uid(model_uid)
        response = yield Call("DELETE", f"/v1/models/{uid}", raw=True)
        if response.status >= 400:
            raise self._http_error(response.status, response.json_or_text(), url=response.url)
        self._metadata = None

    def terminate(self, model_uid: str | None = None) -> None:
        """Stop a running model and free its resources on whichever worker holds it."""
        self._run(self._terminate(model_uid))

    async def aterminate(self, model_uid: str | None = None) -> None:
        await self._arun(self._terminate(model_uid))

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        """`launch(model, n_ctx=context_length, n_gpu=gpu)`; Xinference has no idle TTL."""
        if request.ttl is not None:
            raise NotSupportedError(
                "Xinference keeps a launched model until it is terminated; it has no TTL"
            )
        if request.model is None:
            raise InvalidParameterError("model", "name the registered model to launch")
        if isinstance(request.gpu, float):
            raise InvalidParameterError(
                "gpu", f"Xinference takes a number of GPUs or 'auto', got {request.gpu!r}"
            )
        n_gpu = "auto" if request.gpu is None else request.gpu
        uid = yield from self._launch(request.model, n_ctx=request.context_length, n_gpu=n_gpu)
        return (yield from self._description(uid))

    def _unload(self, model: str | None) -> Plan[None]:
        yield from self._terminate(model)

    def register_model(self, family: Mapping[str, Any], *, persist: bool = False) -> None:
        """Register a custom LLM family (e.g. a local GGUF file) so it can be launched."""
        self.http.post_json(
            "/v1/model_registrations/LLM", xinference.build_register_body(family, persist=persist)
        )

    def unregister_model(self, model_name: str) -> None:
        response = self.http.request("DELETE", f"/v1/model_registrations/LLM/{model_name}")
        if response.status >= 400:
            raise self._http_error(response.status, response.json_or_text(), url=response.url)

    def _nodes(self) -> Plan[list[NodeInfo]]:
        body = yield Call("GET", "/v1/cluster/info", params={"detailed": "true"})
        return xinference.parse_cluster_info(body)

    def nodes(self) -> list[NodeInfo]:
        """Every node of the cluster, supervisor first, then each worker (`is_worker`) with its
        address, GPUs, CPUs and memory; a model's `nodes` name these workers."""
        return self._run(self._nodes())

    async def anodes(self) -> list[NodeInfo]:
        return await self._arun(self._nodes())
