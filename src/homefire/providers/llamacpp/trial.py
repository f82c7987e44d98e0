"""Load a model file once in a child process before this process loads it.

llama.cpp checks much of a model file with assertions that end the whole process
(`GGML_ASSERT`, an uncaught C++ exception), in its loader, in each architecture's code and in
its tokenizer. `read_model_file` refuses what is known to trip them, but that list can never be
complete, so a file is first loaded, with a tiny context and no GPU, by the same engine in a
child process, which also tokenizes text that needs every kind of token. A child that dies
becomes `ModelFileError` here, naming the assertion; this process never runs the load that
would have killed it. Each file (by identity, size and modification time) is tried once per
process: the trial costs the start of a Python process and a load from the page cache,
about half a second.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from homefire.errors import ModelFileError

TRIAL_TIMEOUT_SECONDS = 120.0
"""How long a trial load may take. It maps the file instead of reading it, so even a large
model loads in seconds; a file that keeps the loader busy longer is refused."""

_LOAD_FAILED = 17  # the child's exit status when the engine refused the file (no crash)
_SAMPLE = "Hello, wörld! 你好 \n\t <|im_start|> 🙂 \x00\x7f 0x0A <0x0A> [INST]"
_SCRIPTS = {
    "xllamacpp": f"""
import json, os, secrets, sys, urllib.request
import xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 256
p.n_parallel = 1
p.n_gpu_layers = 0
p.fit_params = False
p.warmup = False
p.verbosity = -1
p.cpuparams.n_threads = 1
p.cpuparams_batch.n_threads = 1
p.use_jinja = False
p.chat_template = "chatml"
key = secrets.token_urlsafe(32)
p.api_keys = [key]
p.hostnames = ["127.0.0.1"]
p.ui = False
p.n_threads_http = 1
try:
    server = x.Server(p)
except Exception:
    os._exit({_LOAD_FAILED})

def post(path, body):
    request = urllib.request.Request(
        server.listening_address + path, json.dumps(body).encode(),
        {{"Authorization": "Bearer " + key, "Content-Type": "application/json"}},
    )
    return json.load(urllib.request.urlopen(request, timeout=60))

for special in (True, False):
    try:  # an error answer is not a crash: the real load would report it the same way
        tokens = post("/tokenize", {{"content": {_SAMPLE!r}, "parse_special": special}})
        post("/detokenize", {{"tokens": tokens["tokens"]}})
    except Exception:
        pass
os._exit(0)
""",
    "llama-cpp-python": f"""
import os, sys
import llama_cpp
try:
    llm = llama_cpp.Llama(sys.argv[1], n_ctx=256, n_threads=1, n_gpu_layers=0, verbose=False)
except Exception:
    os._exit({_LOAD_FAILED})
for special in (True, False):
    try:  # an exception is not a crash: the real load would report it the same way
        llm.detokenize(llm.tokenize({_SAMPLE!r}.encode(), add_bos=True, special=special))
    except Exception:
        pass
os._exit(0)
""",
}

_tried: set[tuple[object, ...]] = set()
_tried_lock = threading.Lock()


def trial_load(engine: str, path: Path, *, timeout: float = TRIAL_TIMEOUT_SECONDS) -> None:
    """Load `path` with `engine` in a child process; ModelFileError when the child dies."""
    try:
        info = path.stat()
    except OSError as exc:
        raise ModelFileError(str(path), f"cannot be read ({exc.strerror or exc})") from None
    identity: tuple[object, ...] = (engine, str(path.resolve()), info.st_dev, info.st_ino)
    identity += (info.st_size, info.st_mtime_ns)
    with _tried_lock:
        if identity in _tried:
            return
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "CUDA_VISIBLE_DEVICES": "",  # the trial needs no GPU, and must not take its memory
        "HIP_VISIBLE_DEVICES": "",
    }
    try:
        child = subprocess.run(
            [sys.executable, "-c", _SCRIPTS[engine], str(path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ModelFileError(
            str(path),
            f"llama.cpp did not finish loading it within {timeout:g} s in a trial process",
            "The file may be damaged; pass trial_load=False to load it without the trial",
        ) from None
    if child.returncode in (0, _LOAD_FAILED):  # a refusal is reported by the real load
        if child.returncode == 0:
            with _tried_lock:
                _tried.add(identity)
        return
    raise ModelFileError(
        str(path),
        f"llama.cpp ({engine}) stopped the process loading it: {_cause(child)}",
        "The file is damaged or made for another version of llama.cpp: download or convert "
        "it again",
    )


def _cause(child: subprocess.CompletedProcess[bytes]) -> str:
    """The assertion or error llama.cpp printed before dying, and how it died."""
    lines = child.stderr.decode("utf-8", "replace").splitlines()
    said = [
        line[line.find("GGML_ASSERT") :].strip() if "GGML_ASSERT" in line else line.strip()
        for line in lines
        if any(word in line for word in ("GGML_ASSERT", "what()", "error", "Error", "abort"))
    ]
    status = child.returncode
    how = f"exit status {status}"
    if status < 0:
        try:
            how = f"signal {signal.Signals(-status).name}"
        except ValueError:
            how = f"signal {-status}"
    detail = said[-1][-300:] if said else (lines[-1][-300:] if lines else "no message")
    return f"{detail} ({how})"
