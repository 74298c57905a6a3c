// The alert outbox in the alert database passes the outbox contract.
import { Outbox } from '../hub/notify/outbox.ts';
import { describeOutboxContract } from './outbox-contract.ts';

describeOutboxContract('alert database', (options) => new Outbox(options));
