/** Chooses the writer for a dump format. */
import type { Output } from '../../io/output.js';
import { dump, type DumpOptions, type DumpSink } from './dump.js';
import { HumanWriter } from './human-writer.js';
import { JsonWriter } from './json-writer.js';
import type { Metadata } from '../metadata.js';
import { XmlWriter } from './xml-writer.js';

export type DumpFormat = 'xml' | 'human_readable' | 'json';

export function sinkFor(format: DumpFormat, out: Output): DumpSink {
  switch (format) {
    case 'xml':
      return new XmlWriter(out);
    case 'human_readable':
      return new HumanWriter(out);
    case 'json':
      return new JsonWriter(out);
  }
}

export function dumpToOutput(md: Metadata, out: Output, format: DumpFormat, options: DumpOptions = {}): void {
  dump(md, sinkFor(format, out), options);
}
