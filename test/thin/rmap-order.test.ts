/**
 * rmap's order where it is easy to get wrong: runs that share a data block
 * (snapshots) ordered by length, device and virtual block; virtual blocks
 * past 2^32 (kept exactly, not cut to 32 bits); data blocks in more than one
 * 16-bit digit. The metadata is restored from XML written here, and the
 * expected lines are thin_rmap's, worked out by hand from that XML.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { dmthin } from '../support/cli.js';
import { oracle, scratch, tpt11 } from '../support/env.js';

const tmp = scratch();
afterAll(() => tmp.cleanup());

const XML = `<superblock uuid="" time="1" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="200000">
  <device dev_id="1" mapped_blocks="4" transaction="0" creation_time="0" snap_time="0">
    <range_mapping origin_begin="3" data_begin="5" length="2" time="0"/>
    <single_mapping origin_block="8589934592" data_block="70000" time="0"/>
    <single_mapping origin_block="8589934593" data_block="7" time="0"/>
  </device>
  <device dev_id="2" mapped_blocks="3" transaction="0" creation_time="0" snap_time="1">
    <single_mapping origin_block="10" data_block="65536" time="0"/>
    <single_mapping origin_block="11" data_block="1" time="0"/>
    <single_mapping origin_block="8589934592" data_block="5" time="0"/>
  </device>
  <device dev_id="3" mapped_blocks="1" transaction="0" creation_time="0" snap_time="1">
    <single_mapping origin_block="0" data_block="5" time="0"/>
  </device>
</superblock>
`;

const EXPECTED = [
  'data 1..2 -> thin(2) 11..12',
  // Three runs start at block 5: the one-block runs first (by device), then the two-block one.
  'data 5..6 -> thin(2) 8589934592..8589934593',
  'data 5..6 -> thin(3) 0..1',
  'data 5..7 -> thin(1) 3..5',
  'data 7..8 -> thin(1) 8589934593..8589934594',
  'data 65536..65537 -> thin(2) 10..11',
  'data 70000..70001 -> thin(1) 8589934592..8589934593',
];

describe('rmap order', () => {
  it('shared blocks ordered by length, device, virtual block; virtual blocks past 2^32 exact; data blocks past 16 bits', () => {
    const xml = tmp.path('m.xml');
    const meta = tmp.path('m.meta');
    writeFileSync(xml, XML);
    writeFileSync(meta, new Uint8Array(4 << 20));
    expect(dmthin('restore', '-i', xml, '-o', meta).code).toBe(0);
    const r = dmthin('rmap', '--region', '0..200000', meta);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(EXPECTED);
    // thin_rmap 1.1 sorts by every field too: it agrees line for line.
    if (tpt11) expect(oracle('1.1', 'thin_rmap', ['--region', '0..200000', meta]).stdout.trimEnd().split('\n')).toEqual(EXPECTED);
  });
});
