"""The app's only way to Rasa: an async HTTP client for `POST /model/parse`.

Short timeout, one retry, a circuit breaker (after `failure_threshold` failures in a row, calls fail fast
for `reset_after` seconds), and our confidence threshold: below it the intent becomes `nlu_fallback`. A
message joining two questions is also parsed part by part (nlu.multi): the result's `parts`.

`timeout` (GRIDTALK_NLU_TIMEOUT) bounds the whole parse, the retry included: a hung Rasa (accepting
connections but never answering) costs a customer's turn at most that long, never twice that; the retry is
made only with the time the first call left.

The HTTP client is aiohttp (already there for aiogram), not httpx: on a profile of the web chat api, httpx with
httpcore and anyio cost about 8 % of the CPU of a chat turn. Its session is opened on the first call, inside the
running event loop (an aiohttp session belongs to the loop it was made in), and keeps its connections to Rasa
alive between turns.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from core.ports import FALLBACK_INTENT, Entity, NluResult, NluUnavailable
from nlu.multi import questions, split_questions
from nlu.normalize import normalize

CONNECTIONS = 100  # at most this many requests to Rasa at once (parts of a message are parsed in parallel)


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int = 3,
        reset_after: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after = reset_after
        self._monotonic = monotonic
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def open(self) -> bool:
        if self._opened_at is None:
            return False
        # once reset_after has passed the breaker is half-open: the next call may try again
        return self._monotonic() - self._opened_at < self.reset_after

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self) -> None:
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = self._monotonic()


class RasaNluClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        threshold: float = 0.5,
        max_chars: int = 500,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.threshold = threshold
        self.max_chars = max_chars
        self.breaker = breaker or CircuitBreaker()
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The session, opened on first use (it must be made inside the running loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=CONNECTIONS),  # kept alive between turns
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def ready(self) -> bool:
        try:
            async with self._http().get(f"{self.base_url}/status", allow_redirects=False) as response:
                status, content = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError):
            return False
        return status == 200 and bool(json.loads(content).get("model_file"))

    async def parse(self, text: str) -> NluResult:
        normalized = normalize(text, self.max_chars)
        if self.breaker.open:
            raise NluUnavailable("NLU circuit breaker is open")
        body = await self._post_with_retry(normalized.text)
        whole = self._to_result(body, normalized.text, normalized.truncated)
        pieces = split_questions(normalized.text)
        if len(pieces) < 2:
            return whole
        try:  # two questions in one message? each part parsed on its own (nlu.multi)
            bodies = await asyncio.gather(*(self._post_with_retry(p) for p in pieces))  # in parallel
            parts = questions([self._to_result(b, p, False) for b, p in zip(bodies, pieces, strict=True)])
        except NluUnavailable:
            return whole  # the whole message was understood; its parts are a bonus
        if not parts:
            return whole
        top = whole if whole.intent in {p.intent for p in parts} else parts[0]
        return dataclasses.replace(
            whole, intent=top.intent, confidence=top.confidence, raw_intent=top.raw_intent, parts=tuple(parts)
        )

    async def _post_with_retry(self, text: str) -> dict[str, Any]:
        url = self.base_url + "/model/parse"
        last_error: Exception | None = None
        deadline = time.monotonic() + self.timeout
        for _attempt in range(2):  # the call and one retry, both within the one timeout
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with (
                    asyncio.timeout(remaining),
                    self._http().post(url, json={"text": text}, allow_redirects=False) as response,
                ):
                    content = await response.read()  # the body too, within the time left
                if not 200 <= response.status < 300:  # as httpx's raise_for_status: redirects are not followed
                    raise aiohttp.ClientResponseError(
                        response.request_info, response.history, status=response.status, message=response.reason or ""
                    )
                self.breaker.success()
                data: dict[str, Any] = json.loads(content)  # whatever the content type says
                return data
            except TimeoutError:
                last_error = TimeoutError(f"no answer within {self.timeout:g} s")
                break
            except (aiohttp.ClientError, ValueError) as exc:
                last_error = exc
        self.breaker.failure()
        raise NluUnavailable(f"NLU server at {self.base_url} did not answer: {last_error!r}")

    def _to_result(self, body: dict[str, Any], text: str, truncated: bool) -> NluResult:
        intent = body.get("intent") or {}
        name = str(intent.get("name") or FALLBACK_INTENT)
        confidence = float(intent.get("confidence") or 0.0)
        raw_intent = None
        if name != FALLBACK_INTENT and confidence < self.threshold:
            raw_intent, name = name, FALLBACK_INTENT
        if name == FALLBACK_INTENT and raw_intent is None:
            ranking = body.get("intent_ranking") or []
            raw_intent = next((str(r["name"]) for r in ranking if r.get("name") != FALLBACK_INTENT), None)
        entities = tuple(
            Entity(entity=str(e["entity"]), value=str(e["value"]), start=int(e["start"]), end=int(e["end"]))
            for e in body.get("entities") or []
        )
        return NluResult(
            text=text,
            intent=name,
            confidence=confidence,
            entities=entities,
            truncated=truncated,
            raw_intent=raw_intent,
        )
