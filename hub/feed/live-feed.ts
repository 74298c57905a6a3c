// What happens on the floor as it happens: entries as they become durable in the journal, and
// alert transitions as the rules announce them, for live views (the API's event stream, the floor
// page). Listeners are called synchronously; a slow one must buffer or skip on its own side, so
// it never holds up the journal or the rules.
import { EventEmitter } from 'node:events';
import type { Entry } from '../domain/reading.ts';
import type { AlertEvent } from '../domain/alert.ts';

/** Entries as they become durable, for live views. Slow listeners never hold up the journal. */
export class LiveFeed extends EventEmitter<{ entries: [readonly Entry[]]; alert: [AlertEvent] }> {
  publish(entries: readonly Entry[]): void {
    if (this.listenerCount('entries') > 0) this.emit('entries', entries);
  }

  publishAlert(event: AlertEvent): void {
    if (this.listenerCount('alert') > 0) this.emit('alert', event);
  }
}
