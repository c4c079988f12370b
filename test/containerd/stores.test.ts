/**
 * The small codecs under containerd's stores: Go's varints and binary
 * times (each a parse/write pair, round-tripped and checked against the
 * bytes containerd 1.6 wrote), containerd's config in its three versions,
 * and the device store's JSON.
 */
import { describe, expect, it } from 'vitest';
import { parseContainerdConfig } from '../../src/containerd/config.js';
import { parseGoTime, parseUvarint, parseVarint, writeGoTime, writeUvarint, writeVarint } from '../../src/containerd/go-values.js';
import { parseDeviceRecord, writeDeviceRecord } from '../../src/containerd/device-store.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

describe("Go's encodings", () => {
  it('round-trips uvarints and varints across byte boundaries', () => {
    for (const v of [0, 1, 127, 128, 255, 300, 16383, 16384, 2 ** 31, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
      expect(parseUvarint(writeUvarint(v))).toBe(v);
    }
    for (const v of [0, -1, 1, -64, 64, -65, 2 ** 33, -(2 ** 33)]) expect(parseVarint(writeVarint(v))).toBe(v);
  });

  it("reads the varints containerd 1.6 wrote: snapshot id 10, a layer's usage of 9 MiB", () => {
    expect(parseUvarint(hex('0a'))).toBe(10);
    // metadata.db's size of layer sha256:586f...: uvarint 80808009 is 9 * 2^21, zig-zag halves it.
    expect(parseVarint(hex('80808009'))).toBe(9437184);
  });

  it('refuses a varint that never ends instead of guessing', () => {
    expect(parseUvarint(hex('ffffffff'))).toBeUndefined();
    expect(parseUvarint(new Uint8Array(0))).toBeUndefined();
  });

  it('reads a time as containerd wrote it, and round-trips to the millisecond', () => {
    // web's createdat in the fixture's metadata.db; ctr said 2026-12-04T23:19:3x.
    const t = parseGoTime(hex('010000000ee2a541840226a082ffff'));
    expect(t).toMatch(/^2026-12-04T23:19:\d\d\.\d{3}Z$/);
    const iso = '2026-12-04T23:19:35.199Z';
    expect(parseGoTime(writeGoTime(iso))).toBe(iso);
    expect(parseGoTime(hex('0300'))).toBeUndefined();
  });
});

describe("containerd's config", () => {
  it('finds the devmapper table in each config version and the root', () => {
    const v2 = parseContainerdConfig(
      'version = 2\nroot = "/var/lib/containerd"\n[plugins."io.containerd.snapshotter.v1.devmapper"]\n  pool_name = "pool"\n  root_path = "/srv/dm"\n  base_image_size = "10GB"\n[plugins.cri]\n  pool_name = "not-this"\n',
    );
    expect(v2).toEqual({ root: '/var/lib/containerd', poolName: 'pool', rootPath: '/srv/dm', baseImageSize: '10GB' });
    expect(parseContainerdConfig("[plugins.devmapper]\npool_name = 'p1' # v1\n").poolName).toBe('p1');
    expect(parseContainerdConfig('version = 3\n[plugins.\'io.containerd.snapshotter.v1.devmapper\']\npool_name = "p3"\n').poolName).toBe('p3');
    expect(parseContainerdConfig('[plugins."io.containerd.snapshotter.v1.overlayfs"]\npool_name = "x"\n')).toEqual({});
  });
});

describe("the device store's records", () => {
  it('round-trips a record and names its state', () => {
    const rec = { name: 'ctdpool-snap-2', deviceId: 2, size: 67108864, parentName: 'ctdpool-snap-1', state: 10, stateName: 'Deactivated' };
    expect(parseDeviceRecord('ctdpool-snap-2', writeDeviceRecord(rec)).device).toEqual(rec);
    expect(parseDeviceRecord('x', new TextEncoder().encode('{"device_id":1,"size":1,"state":13,"error":"boom"}')).device).toMatchObject({
      stateName: 'Faulty',
      error: 'boom',
      name: 'x',
    });
  });

  it('says why a record is not one, never throws', () => {
    expect(parseDeviceRecord('x', new TextEncoder().encode('{"device_id":"1"}')).why).toContain('without device_id');
    expect(parseDeviceRecord('x', Uint8Array.of(0xff, 0x7b)).why).toBe('not JSON');
  });
});
