/**
 * A name that fits no snapshot where it was looked for (live, or removed):
 * its own class, so that a caller can say where else the name is without
 * reading the message back.
 */
import { ArgumentError } from '../errors.js';

export class NoSuchSnapshot extends ArgumentError {
  constructor(message: string) {
    super(message);
    this.name = 'NoSuchSnapshot';
  }
}
