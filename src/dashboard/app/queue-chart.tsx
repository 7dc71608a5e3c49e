import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { SeriesPoint, seriesColumns } from '../model/metrics-series';

const HEIGHT = 220;

function options(width: number): uPlot.Options {
  return {
    width,
    height: HEIGHT,
    scales: {
      x: { time: true },
      queue: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max)] },
      rate: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max)] },
    },
    axes: [
      {},
      { scale: 'queue', label: 'waiting', size: 50 },
      { scale: 'rate', label: 'per hour', side: 1, size: 50, grid: { show: false } },
    ],
    series: [
      {},
      { label: 'Waiting', scale: 'queue', stroke: '#c2410c', width: 2, fill: 'rgba(194, 65, 12, 0.08)' },
      { label: 'Arrivals / h', scale: 'rate', stroke: '#1d4ed8', width: 1.5 },
      { label: 'Closures / h', scale: 'rate', stroke: '#15803d', width: 1.5, dash: [6, 4] },
    ],
    legend: { live: false },
    cursor: { drag: { x: false, y: false } },
  };
}

/** Queue length, arrivals and closures over the last hour, from the frames this page received (uPlot). */
export function QueueChart(props: { series: readonly SeriesPoint[] }) {
  const holder = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = holder.current;
    if (el === null) return;
    const chart = new uPlot(options(Math.max(300, el.clientWidth)), seriesColumns(props.series), el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(300, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // Created once; later data goes through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(seriesColumns(props.series));
  }, [props.series]);

  const n = props.series.length;
  return (
    <section class="panel wide" aria-labelledby="chart-title">
      <h2 id="chart-title">Last hour</h2>
      <div ref={holder} class="chart" data-testid="chart" data-points={n} />
      <p class="muted small" data-testid="chart-caption">
        {n === 0
          ? 'The chart fills as updates arrive.'
          : `${n} update${n === 1 ? '' : 's'} since this page opened (it keeps the last hour).`}
      </p>
    </section>
  );
}
