import { HttpException } from '@nestjs/common';
import type { ServerResponse } from 'node:http';

/** nginx's status for a request whose client closed the connection before the answer. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * A signal that aborts when the HTTP client disconnects before its response is complete. Given
 * to a service method's `@Signal()` argument, it cancels the provider request the client no
 * longer waits for (a deduped call is cancelled only when every client sharing it has left).
 */
export function clientSignal(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (res.writableFinished) return;
    controller.abort(new HttpException('the client closed the request', CLIENT_CLOSED_REQUEST));
  });
  return controller.signal;
}
