"""hf.Xinference's launch against a fake supervisor: one POST, failures said plainly, the
worker serving a model named, a worker that died said to be gone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import homefire as hf
from fakes.xinference import FakeXinference

pytestmark = pytest.mark.unit


@pytest.fixture
def fake() -> Iterator[FakeXinference]:
    server = FakeXinference().start()
    yield server
    server.stop()


def launches(fake: FakeXinference) -> int:
    return sum(1 for r in fake.requests if r.method == "POST" and r.path == "/v1/models")


def test_launch_waits_until_ready(fake: FakeXinference) -> None:
    llm = hf.Xinference(base_url=fake.base_url)
    assert llm.launch("smollm2-custom", model_uid="smol", poll_interval=0.01) == "smol"
    assert llm.model_uid == "smol" and launches(fake) == 1


def test_a_failed_launch_is_posted_once_and_says_why(fake: FakeXinference) -> None:
    fake.launch_failure = "No available slot found for the model"
    llm = hf.Xinference(base_url=fake.base_url)
    with pytest.raises(
        hf.APIStatusError, match=r"could not launch 'smollm2-custom'.*No available"
    ) as info:
        llm.launch("smollm2-custom", poll_interval=0.01)
    assert not isinstance(info.value, hf.ServerBusyError) and info.value.status == 503
    assert launches(fake) == 1


def test_a_launch_that_disappears_fails_at_once(fake: FakeXinference) -> None:
    fake.cancel_during_launch = True
    llm = hf.Xinference(base_url=fake.base_url)
    with pytest.raises(hf.GenerationError, match="no longer lists 'smol'"):
        llm.launch("smollm2-custom", model_uid="smol", timeout=30, poll_interval=0.01)


async def test_health_and_async_wait_use_the_same_check(fake: FakeXinference) -> None:
    llm = hf.Xinference(base_url=fake.base_url)
    assert llm.health() and await llm.ahealth()
    await llm.await_until_ready(timeout=5)
    await llm.aclose()


async def test_describe_names_the_worker_serving_the_model(fake: FakeXinference) -> None:
    llm = hf.Xinference(base_url=fake.base_url)
    llm.launch("smollm2-custom", model_uid="smol", poll_interval=0.01)
    assert llm.describe().nodes == [fake.worker]
    assert (await llm.adescribe("smol")).nodes == [fake.worker]
    await llm.aclose()


async def test_a_model_on_a_worker_that_died_raises_worker_lost(fake: FakeXinference) -> None:
    llm = hf.Xinference(base_url=fake.base_url)
    llm.launch("smollm2-custom", model_uid="smol", poll_interval=0.01)
    fake.lost_worker = "127.0.0.3:38847"
    with pytest.raises(hf.WorkerLostError, match=r"127\.0\.0\.3:38847.*Restart the worker") as info:
        llm.describe()
    assert info.value.worker == "127.0.0.3:38847" and info.value.status == 500
    assert isinstance(info.value, hf.ServerNotRunningError)  # a router may pass the request on
    with pytest.raises(hf.WorkerLostError):
        await llm.aterminate()
    await llm.aclose()
