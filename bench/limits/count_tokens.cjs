// Dev-time only: real token counts for bench/limits/estimator.py.
//
// Reads JSON lines with a "text" field on stdin and prints one JSON line per
// input line: {"o200k_base": n, "cl100k_base": n, "claude_legacy": n}.
// Needs the packages installed outside the work tree, e.g.
//   npm install --prefix /tmp/tok gpt-tokenizer@4.0.0 @anthropic-ai/tokenizer@0.0.4
//   NODE_PATH=/tmp/tok/node_modules node bench/limits/count_tokens.cjs < texts.jsonl
// Special-token spellings inside a text are counted as ordinary text.
'use strict';
const readline = require('node:readline');
const o200k = require('gpt-tokenizer/cjs/encoding/o200k_base');
const cl100k = require('gpt-tokenizer/cjs/encoding/cl100k_base');
const claude = require('@anthropic-ai/tokenizer');

const asText = { disallowedSpecial: new Set() };
const claudeTok = claude.getTokenizer();

function claudeCount(text) {
  // countTokens() would let special-token spellings through as one token each
  return claudeTok.encode(text.normalize('NFKC'), [], []).length;
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const { text } = JSON.parse(line);
  process.stdout.write(JSON.stringify({
    o200k_base: o200k.countTokens(text, asText),
    cl100k_base: cl100k.countTokens(text, asText),
    claude_legacy: claudeCount(text),
  }) + '\n');
});
rl.on('close', () => claudeTok.free());
