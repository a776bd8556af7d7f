import type { BitReader } from './bit-reader.ts';

/**
 * aspect_ratio_idc → sample aspect ratio (H.264 Table E-1, the same in H.265
 * Table E-1): index 0 is "unspecified", 17..254 are reserved, 255 is
 * Extended_SAR (sar_width and sar_height follow as u(16) each).
 */
const SAR_TABLE: readonly (readonly [number, number] | undefined)[] = [
  undefined, [1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11],
  [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1],
];
const EXTENDED_SAR = 255;

/**
 * Reads the start of vui_parameters() (H.264 E.1.1, H.265 E.2.1, the same
 * there): aspect_ratio_info_present_flag, aspect_ratio_idc and, for
 * Extended_SAR, sar_width / sar_height. Returns the sample aspect ratio,
 * reduced, or undefined when absent, unspecified, reserved, 1:1 or with a
 * zero term (E.2.1: "unspecified"). The reader must stand at the VUI.
 */
export function readVuiSar(r: BitReader): readonly [number, number] | undefined {
  if (!r.readFlag()) return undefined; // aspect_ratio_info_present_flag
  const idc = r.readBits(8);
  let sar: readonly [number, number] | undefined;
  if (idc === EXTENDED_SAR) {
    const w = r.readBits(16);
    const h = r.readBits(16);
    if (w === 0 || h === 0) return undefined;
    const g = gcd(w, h);
    sar = [w / g, h / g];
  } else {
    sar = SAR_TABLE[idc];
  }
  return sar === undefined || sar[0] === sar[1] ? undefined : sar;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
