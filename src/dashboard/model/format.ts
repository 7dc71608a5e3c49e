/** How the page writes figures: short, with units, and a dash for "no value". */

export const NO_VALUE = '—';

/** `42 s`, `3 min 05 s`, `1 h 04 min`. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return NO_VALUE;
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A share (0..1) as a percentage: `80 %`, `99.97 %`, `0.03 %`; keeps the digits that tell it from 0 or 100. */
export function formatPercent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return NO_VALUE;
  const p = share * 100;
  if (p === 0 || p === 100) return `${p} %`;
  const digits = p >= 99.5 || p < 0.5 ? 2 : p < 10 ? 1 : 0;
  return `${p.toFixed(digits)} %`;
}

/** A rate such as arrivals per hour: one decimal under 10, whole above. */
export function formatRate(perHour: number | null | undefined): string {
  if (perHour === null || perHour === undefined || !Number.isFinite(perHour)) return NO_VALUE;
  return perHour < 10 ? perHour.toFixed(1).replace(/\.0$/, '') : String(Math.round(perHour));
}
