// The official ElevenLabs JS SDK (@elevenlabs/elevenlabs-js) as a strict client of Dalston.
//
// Usage: node run_cases.cjs <base_url> <cases.json>
// cases.json: [{"name", "request": {camelCase convert() fields; "file": a path},
//               "model": "SpeechToTextChunkResponseModel" | ... | null,
//               "then": "get" | "delete" | undefined, "expectError": status | undefined}]
// Prints one JSON line: {"<name>": {"ok": true, "body": <raw JSON>} | {"ok": false, "error"}}.
//
// Every response goes through the SDK's own parser (which throws on a missing or null
// required field), and the raw body is parsed again with the specific response model.
const fs = require("fs");
const { ElevenLabsClient } = require("@elevenlabs/elevenlabs-js");
const serializers = require("@elevenlabs/elevenlabs-js/serialization/index.js");

const STRICT = {
  unrecognizedObjectKeys: "passthrough",
  allowUnrecognizedUnionMembers: true,
  allowUnrecognizedEnumValues: true,
};

async function main() {
  const [baseUrl, casesPath] = process.argv.slice(2);
  const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
  const bodies = [];
  const client = new ElevenLabsClient({
    apiKey: "test-key",
    baseUrl,
    maxRetries: 0,
    timeoutInSeconds: 300,
    fetch: async (url, init) => {
      const resp = await fetch(url, init);
      bodies.push(await resp.clone().text());
      return resp;
    },
  });
  const results = {};
  for (const c of cases) {
    try {
      const request = { ...c.request };
      if (request.file) {
        request.file = new Blob([fs.readFileSync(request.file)]);
      }
      const data = await client.speechToText.convert(request);
      let raw = JSON.parse(bodies[bodies.length - 1]);
      if (c.then === "get" || c.then === "delete") {
        const got = await client.speechToText.transcripts.get(data.transcriptionId);
        raw = JSON.parse(bodies[bodies.length - 1]);
        if (got.text !== data.text) throw new Error("get returned another transcript");
      }
      if (c.then === "delete") {
        await client.speechToText.transcripts.delete(data.transcriptionId);
        try {
          await client.speechToText.transcripts.get(data.transcriptionId);
          throw new Error("the transcript is still there after delete");
        } catch (err) {
          if (err.statusCode !== 404) throw err;
        }
      }
      if (c.model) serializers[c.model].parseOrThrow(raw, STRICT);
      results[c.name] = c.expectError
        ? { ok: false, error: `expected HTTP ${c.expectError}, got a response` }
        : { ok: true, body: raw };
    } catch (err) {
      if (c.expectError && err.statusCode === c.expectError) {
        results[c.name] = { ok: true, body: err.body };
      } else {
        results[c.name] = { ok: false, error: `${err.name}: ${err.message}`, body: err.body };
      }
    }
  }
  process.stdout.write(JSON.stringify(results) + "\n");
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
