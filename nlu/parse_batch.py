"""Parse many texts with a trained model, as the Rasa server would: `python nlu/parse_batch.py MODEL IN OUT`.

Run by `gridtalk nlu eval` with Rasa's interpreter (the app's venv has no Rasa). IN is a JSON list of texts
(already normalised as the client does), OUT receives a JSON list, one entry per text:
{"intent": what the server answers (nlu_fallback when its FallbackClassifier fired),
 "top": [[intent, confidence], [second intent, confidence]]} — the model's own two best intents, so that a
decision (confidence threshold, ambiguity margin) can be applied and swept afterwards.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

FALLBACK = "nlu_fallback"


async def parse_all(model: str, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(model)
    results = []
    for text in texts:
        parsed = await agent.parse_message(text)
        ranking = [r for r in parsed.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        results.append(
            {
                "intent": (parsed.get("intent") or {}).get("name") or FALLBACK,
                "top": [[r["name"], float(r.get("confidence") or 0.0)] for r in ranking[:2]],
            }
        )
    return results


def main(model: str, source: str, target: str) -> None:
    with open(source, encoding="utf-8") as handle:
        texts: list[str] = json.load(handle)
    results = asyncio.run(parse_all(model, texts))
    with open(target, "w", encoding="utf-8") as handle:
        json.dump(results, handle, ensure_ascii=False)


if __name__ == "__main__":
    main(*sys.argv[1:4])
