"""Safety evaluators: offline detectors (PII, toxicity, prompt injection, refusals), Azure AI
content-safety wrappers and an LLM-judge safety rubric.

Each detector lives in its own module and is imported only when a suite names it, so a run that
uses none of them pays nothing (the toxicity classifier alone costs seconds to import).
"""
