import type { ServerResponse } from 'node:http';
import type { StreamItem } from './chat.types.js';
import type { TokenUsage } from './token-estimate.js';

/**
 * Sends `tokens` as server-sent events: `data: {"index":n,"token":"..."}` per token, then
 * `event: done`. The first token is awaited before anything is written, so a call refused
 * before it started (shed, open circuit, provider error) still reaches the exception filter
 * and becomes a proper 429/503/5xx. An error after the first token ends the stream with
 * `event: error`. When the client disconnects, the iterator is closed (`return()`), which
 * cancels the provider request and frees the backpressure slot. Each token sent is pushed to
 * `delivered` (what a fallback continues from); the usage item goes into `event: done`.
 */
export async function sendTokenStream(
  res: ServerResponse,
  tokens: AsyncIterable<StreamItem>,
  delivered: string[] = [],
): Promise<void> {
  const iterator = tokens[Symbol.asyncIterator]();
  let result = await iterator.next();
  res.statusCode = 200;
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache, no-transform');
  res.setHeader('connection', 'keep-alive');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();

  let clientGone = false;
  const release = () => void Promise.resolve(iterator.return?.()).catch(() => undefined);
  res.once('close', () => {
    if (res.writableFinished) return;
    clientGone = true;
    release();
  });

  let index = 0;
  let usage: TokenUsage | undefined;
  try {
    for (; !result.done; result = await iterator.next()) {
      if (clientGone) return;
      const item = result.value;
      if (typeof item !== 'string') {
        usage = item.usage;
        continue;
      }
      res.write(`data: ${JSON.stringify({ index, token: item })}\n\n`);
      delivered.push(item);
      index++;
    }
    if (!clientGone) res.end(`event: done\ndata: ${JSON.stringify({ tokens: index, usage })}\n\n`);
  } catch (error) {
    if (clientGone) return;
    const message = error instanceof Error ? error.message : String(error);
    res.end(`event: error\ndata: ${JSON.stringify({ message, tokens: index })}\n\n`);
  }
}
