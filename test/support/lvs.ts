/** A row of `lvs --reportformat json` as the LVM fixtures record it (fixtures/lvm-*.facts): every value a string. */
export interface LvsRow {
  vg_name: string;
  lv_name: string;
  lv_size: string;
  segtype: string;
  pool_lv: string;
  thin_id: string;
  origin: string;
  chunk_size: string;
  transaction_id: string;
  /** lvm-single's report. */
  data_percent?: string;
  /** The later fixtures' reports: a row per segment. */
  stripes?: string;
  seg_count?: string;
}
