"""The inspector: DevTools protocol sessions that pause at breakpoints, read
variables and see console messages, through ``create_inspector_session`` and
through ``start_inspector_server`` with a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from websockets.sync.client import connect

import ivm

pytestmark = pytest.mark.timeout(60)

WAIT = 20.0

CALC = "function calc(x) {\n  const doubled = x * 2;\n  return doubled + 1;\n}\ncalc(20);\n"


class Client:
    """A DevTools protocol client: requests with ids, events kept until
    asked for."""

    def __init__(self, send: Callable[[str], None], receive: Callable[[float], str]) -> None:
        self._send = send
        self._receive = receive
        self._next_id = 1
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = self._next_id
        self._next_id += 1
        self._send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._receive(WAIT))
            if message.get("id") == call_id:
                assert "error" not in message, message
                result: dict[str, Any] = message["result"]
                return result
            self.events.append(message)

    def event(self, method: str) -> dict[str, Any]:
        for index, event in enumerate(self.events):
            if event["method"] == method:
                params: dict[str, Any] = self.events.pop(index)["params"]
                return params
        while True:
            message = json.loads(self._receive(WAIT))
            if message.get("method") == method:
                params = message["params"]
                return params
            self.events.append(message)


def session_client(isolate: ivm.Isolate) -> tuple[ivm.InspectorSession, Client]:
    messages: queue.Queue[str] = queue.Queue()
    session = isolate.create_inspector_session(messages.put)
    return session, Client(session.dispatch, lambda wait: messages.get(timeout=wait))


@pytest.fixture
def inspected() -> Iterator[tuple[ivm.Isolate, ivm.Context]]:
    with ivm.Isolate(inspector=True) as isolate:
        yield isolate, isolate.create_context(inspector=True, name="main")


def run_in_thread(call: Callable[[], Any]) -> Callable[[], Any]:
    """Runs ``call`` on a thread; the returned function waits for its result
    (or raises its exception)."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the waiting test
            outcome["error"] = error

    thread = threading.Thread(target=target)
    thread.start()

    def result() -> Any:
        thread.join(WAIT)
        assert not thread.is_alive(), "the call did not finish"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return result


def test_a_breakpoint_pauses_a_script_whose_variables_can_be_read(
    inspected: tuple[ivm.Isolate, ivm.Context],
) -> None:
    isolate, context = inspected
    session, client = session_client(isolate)
    with session:
        client.call("Runtime.enable")
        assert client.event("Runtime.executionContextCreated")["context"]["name"] == "main"
        client.call("Debugger.enable")
        client.call("Debugger.setBreakpointByUrl", url="calc.js", lineNumber=2)
        script = isolate.compile_script(CALC, filename="calc.js")
        result = run_in_thread(lambda: script.run(context))

        paused = client.event("Debugger.paused")
        assert len(paused["hitBreakpoints"]) == 1
        frame = paused["callFrames"][0]
        assert frame["functionName"] == "calc"
        read = client.call("Debugger.evaluateOnCallFrame", callFrameId=frame["callFrameId"], expression="doubled")
        assert read["result"]["value"] == 40
        client.call("Debugger.stepOver")
        stepped = client.event("Debugger.paused")
        assert stepped["reason"] == "step"
        assert stepped["callFrames"][0]["returnValue"]["value"] == 41
        client.call("Debugger.resume")
        assert result() == 41


def test_console_messages_reach_the_session(inspected: tuple[ivm.Isolate, ivm.Context]) -> None:
    isolate, context = inspected
    session, client = session_client(isolate)
    with session:
        client.call("Runtime.enable")
        context.eval("console.log('hello', 42)")
        logged = client.event("Runtime.consoleAPICalled")
        assert logged["type"] == "log"
        assert [argument["value"] for argument in logged["args"]] == ["hello", 42]


def test_a_paused_async_call_resumes_when_the_session_closes(inspected: tuple[ivm.Isolate, ivm.Context]) -> None:
    isolate, context = inspected
    session, client = session_client(isolate)
    client.call("Debugger.enable")

    async def main() -> Any:
        running = context.eval_async("debugger; 'finished'")
        await asyncio.to_thread(client.event, "Debugger.paused")
        session.close()
        return await running

    assert asyncio.run(main()) == "finished"
    assert session.closed
    with pytest.raises(ivm.ReleasedError):
        session.dispatch("{}")


def test_a_timeout_ends_a_paused_call(inspected: tuple[ivm.Isolate, ivm.Context]) -> None:
    isolate, context = inspected
    session, client = session_client(isolate)
    with session:
        client.call("Debugger.enable")
        result = run_in_thread(lambda: context.eval("debugger; 1", timeout=0.3))
        client.event("Debugger.paused")
        with pytest.raises(ivm.TimeoutError):
            result()
        client.call("Debugger.disable")
        assert context.eval("2") == 2


def test_devtools_connects_over_a_websocket(inspected: tuple[ivm.Isolate, ivm.Context]) -> None:
    isolate, context = inspected
    with isolate.start_inspector_server() as server:
        assert server.websocket_url.startswith(f"ws://127.0.0.1:{server.port}/")
        assert "v8only=true" in server.devtools_url
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/json/list", timeout=WAIT) as response:
            targets = json.load(response)
        assert targets[0]["webSocketDebuggerUrl"] == server.websocket_url

        with connect(server.websocket_url, open_timeout=WAIT) as socket:
            client = Client(socket.send, lambda wait: str(socket.recv(timeout=wait)))
            client.call("Debugger.enable")
            result = run_in_thread(lambda: context.eval("let secret = 7;\ndebugger;\nsecret * 6"))
            paused = client.event("Debugger.paused")
            frame_id = paused["callFrames"][0]["callFrameId"]
            read = client.call("Debugger.evaluateOnCallFrame", callFrameId=frame_id, expression="secret")
            assert read["result"]["value"] == 7
            client.call("Debugger.resume")
            assert result() == 42


def test_inspector_errors() -> None:
    with ivm.Isolate() as plain:
        with pytest.raises(ivm.UsageError, match="Inspector is not enabled"):
            plain.create_inspector_session(print)
        with pytest.raises(ivm.UsageError):
            plain.start_inspector_server()
    with ivm.Isolate(inspector=True) as isolate:
        with isolate.start_inspector_server() as server:
            with pytest.raises(ivm.IoError) as raised:
                isolate.start_inspector_server(server.port)
            assert isinstance(raised.value, OSError)


def test_a_context_shows_its_origin_to_the_inspector() -> None:
    with ivm.Isolate(inspector=True) as isolate:
        isolate.create_context(inspector=True, name="app", origin="https://example.com")
        session, client = session_client(isolate)
        with session:
            client.call("Runtime.enable")
            created = client.event("Runtime.executionContextCreated")["context"]
            assert created["name"] == "app"
            assert created["origin"] == "https://example.com"
