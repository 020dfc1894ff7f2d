"""Drives the gateway's OpenAI-compatible API with the official `openai` Python client and prints what it saw as JSON.

Usage: python3 openai_smoke.py BASE_URL TOKEN
"""
import json
import sys

import openai

base_url, token = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=token, max_retries=0, timeout=30)
seen = {"models": [m.id for m in client.models.list()]}

reply = client.chat.completions.create(
    model="openclaw",
    messages=[
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": "Say hello."},
    ],
)
seen["text"] = reply.choices[0].message.content
seen["finish_reason"] = reply.choices[0].finish_reason
seen["id"] = reply.id
seen["usage_total"] = reply.usage.total_tokens if reply.usage else None

stream = client.chat.completions.create(
    model="openclaw/main",
    messages=[{"role": "user", "content": "Stream something."}],
    stream=True,
    stream_options={"include_usage": True},
    user="Alice",
)
chunks, usage = [], None
for chunk in stream:
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
    for choice in chunk.choices:
        if choice.delta.content:
            chunks.append(choice.delta.content)
seen["stream_text"] = "".join(chunks)
seen["stream_chunks"] = len(chunks)
seen["stream_usage_total"] = usage

try:
    openai.OpenAI(base_url=base_url, api_key="wrong", max_retries=0).models.list()
    seen["wrong_key"] = "accepted"
except openai.AuthenticationError as error:
    seen["wrong_key"] = error.status_code

try:
    client.chat.completions.create(model="openclaw/ghost", messages=[{"role": "user", "content": "hi"}])
    seen["unknown_agent"] = "accepted"
except openai.NotFoundError as error:
    seen["unknown_agent"] = error.status_code

# Client tools: the model asks for one, the client runs it and sends the result back.
tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
question = [{"role": "user", "content": "Weather in Paris?"}]
asked = client.chat.completions.create(model="openclaw", messages=question, tools=tools)
choice = asked.choices[0]
seen["tool_finish_reason"] = choice.finish_reason
call = choice.message.tool_calls[0]
seen["tool_call"] = {"name": call.function.name, "arguments": json.loads(call.function.arguments)}
followup = client.chat.completions.create(
    model="openclaw",
    messages=question + [choice.message.model_dump(exclude_none=True),
                         {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"}],
    tools=tools,
)
seen["tool_answer"] = followup.choices[0].message.content
stream = client.chat.completions.create(model="openclaw", messages=question, tools=tools, stream=True)
streamed_calls, stream_finish = [], None
for chunk in stream:
    for choice in chunk.choices:
        for delta_call in choice.delta.tool_calls or []:
            streamed_calls.append(delta_call.function.name)
        stream_finish = choice.finish_reason or stream_finish
seen["stream_tool_calls"] = streamed_calls
seen["stream_tool_finish"] = stream_finish

print(json.dumps(seen))
