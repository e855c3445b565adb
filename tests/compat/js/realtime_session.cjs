// The official ElevenLabs JS SDK's realtime client (client.speechToText.realtime.connect)
// streaming 16 kHz PCM16 at real-time pace (100 ms chunks) to Dalston.
//
// Usage: node realtime_session.cjs <base_url> <pcm16 file> <manual|vad> <timestamps 0|1>
// Prints one JSON line: {"events": [[name, data], ...]} in arrival order, or {"error"}.
const fs = require("fs");
const { ElevenLabsClient, AudioFormat, CommitStrategy, RealtimeEvents } = require(
  "@elevenlabs/elevenlabs-js",
);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const [baseUrl, pcmPath, strategy, timestamps] = process.argv.slice(2);
  const pcm = fs.readFileSync(pcmPath);
  const manual = strategy === "manual";
  const client = new ElevenLabsClient({ apiKey: "test-key", baseUrl });
  const conn = await client.speechToText.realtime.connect({
    modelId: "scribe_v2_realtime",
    audioFormat: AudioFormat.PCM_16000,
    sampleRate: 16000,
    commitStrategy: manual ? CommitStrategy.MANUAL : CommitStrategy.VAD,
    languageCode: "en",
    includeTimestamps: timestamps === "1",
  });
  const events = [];
  for (const name of Object.values(RealtimeEvents)) {
    conn.on(name, (data) => events.push([name, data instanceof Error ? String(data) : data]));
  }
  const names = () => events.map((e) => e[0]);
  const deadline = Date.now() + 60000;
  while (!names().includes("session_started") && Date.now() < deadline) await sleep(20);
  const t0 = Date.now();
  for (let i = 0, n = 0; i < pcm.length; i += 3200, n++) {
    conn.send({ audioBase64: pcm.subarray(i, i + 3200).toString("base64") });
    await sleep(Math.max(0, t0 + (n + 1) * 100 - Date.now()));
  }
  if (manual) {
    conn.commit();
  } else {
    const silence = Buffer.alloc(3200).toString("base64");
    for (let n = 0; n < 25; n++) {
      conn.send({ audioBase64: silence });
      await sleep(100);
    }
  }
  const want = timestamps === "1" ? "committed_transcript_with_timestamps" : "committed_transcript";
  const end = Date.now() + 90000;
  let seen = -1;
  let quietSince = Date.now();
  while (Date.now() < end) {
    const count = names().filter((n) => n === want).length;
    if (count !== seen) {
      seen = count;
      quietSince = Date.now();
    }
    if (count > 0 && (manual || Date.now() - quietSince > 3000)) break;
    await sleep(100);
  }
  conn.close();
  await sleep(300);
  process.stdout.write(JSON.stringify({ events }) + "\n");
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ error: String(err && err.stack ? err.stack : err) }) + "\n");
  process.exit(1);
});
