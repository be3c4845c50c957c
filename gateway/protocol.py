"""The gateway's HTTP protocol: uvicorn's httptools protocol, which refuses a request
past the admission bound (gateway/admission.py) before it makes a task for it.

In a "doors open" spike most answers are refusals. Through uvicorn's request cycle each
cost a task, the ASGI call chain and the response machinery, nearly as much as a served
ping (BENCHMARKS.md), so refusing kept the worker as busy as serving. Here a refusal
costs the parse of its head and one write. The bound counts every request the worker has
begun and not finished (uvicorn's tasks); uvicorn's ``http`` setting takes this class
by import string.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.admission import OVERLOADED, Admission

ADMISSION = "admission"  # the app's lifespan state names its Admission so


class Protocol(HttpToolsProtocol):
    def _start_asgi_task(self, cycle: RequestResponseCycle, app: object) -> None:
        admission = self.app_state.get(ADMISSION)
        if isinstance(admission, Admission) and admission.refuses_early(
            len(self.tasks), cycle.scope["path"]
        ):
            self._refuse(cycle, admission)
        else:
            super()._start_asgi_task(cycle, app)  # type: ignore[arg-type]

    def _refuse(self, cycle: RequestResponseCycle, admission: Admission) -> None:
        # Answered on the loop's next turn, among the tasks, not here: a refusal written
        # at once makes the client's next request arrive at once, and libuv keeps polling
        # while sockets stay readable, so a worker refusing thousands of connections
        # would never get to its admitted requests, nor to a health probe.
        self.loop.call_soon(self._write_refusal, cycle, admission)

    def _write_refusal(self, cycle: RequestResponseCycle, admission: Admission) -> None:
        if cycle.transport.is_closing():  # the client left meanwhile
            return
        OVERLOADED.inc()
        headers = self.server_state.default_headers
        cycle.transport.write(admission.refusal.response(headers, cycle.keep_alive))
        # As the cycle ends a response it sent itself: the body still to come is skipped,
        # and the connection goes on to its next request or closes.
        cycle.response_complete = True
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()
