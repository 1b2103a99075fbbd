import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartOptions,
  type ChartType,
} from 'chart.js';
import { useEffect, useRef } from 'preact/hooks';

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  DoughnutController,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

export interface Series {
  label: string;
  values: number[];
  color: string | string[];
  fill?: boolean;
}

export interface ChartProps {
  type: Extract<ChartType, 'line' | 'bar' | 'doughnut'>;
  labels: string[];
  series: Series[];
  /** What the chart shows, for people who cannot see it. */
  summary: string;
  testid?: string;
  horizontal?: boolean;
  /** Shown over the chart while it has nothing to draw. */
  empty?: string | null;
}

/**
 * Copies new labels and values into a chart's existing arrays, so Chart.js animates each point from
 * its old value to its new one instead of drawing the chart afresh. Returns whether anything changed.
 */
export function mergeInto(target: { labels?: unknown[]; datasets: Array<{ data: unknown[]; label?: string }> }, labels: string[], series: Series[]): boolean {
  let changed = false;
  const current = (target.labels ??= []);
  if (current.length !== labels.length || labels.some((l, i) => current[i] !== l)) {
    current.splice(0, current.length, ...labels);
    changed = true;
  }
  if (target.datasets.length !== series.length) {
    target.datasets.splice(series.length);
    changed = true;
  }
  series.forEach((s, i) => {
    const dataset = (target.datasets[i] ??= { data: [] });
    if (dataset.label !== s.label) {
      dataset.label = s.label;
      changed = true;
    }
    const data = dataset.data;
    if (data.length !== s.values.length) {
      data.length = s.values.length;
      changed = true;
    }
    s.values.forEach((v, j) => {
      if (data[j] !== v) {
        data[j] = v;
        changed = true;
      }
    });
  });
  return changed;
}

function options(props: ChartProps): ChartOptions {
  const legend = props.type === 'doughnut' || props.series.length > 1;
  const base: ChartOptions = {
    responsive: true,
    maintainAspectRatio: false, // the container's fixed height: new values never reflow the page
    animation: { duration: 400 },
    plugins: { legend: { display: legend, position: 'bottom', labels: { boxWidth: 12 } } },
  };
  if (props.type === 'doughnut') return base;
  return {
    ...base,
    indexAxis: props.horizontal ? 'y' : 'x',
    scales: {
      x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkip: true } },
      y: { beginAtZero: true, ticks: { precision: 0 } },
    },
  } as ChartOptions;
}

function datasets(props: ChartProps) {
  return props.series.map((s) => ({
    label: s.label,
    data: [...s.values],
    backgroundColor: s.fill && typeof s.color === 'string' ? `${s.color}33` : s.color,
    borderColor: s.color,
    fill: s.fill ?? false,
    tension: 0.25,
    pointRadius: 0,
    borderWidth: props.type === 'line' ? 2 : 0,
    borderRadius: props.type === 'bar' ? 3 : 0,
  }));
}

/** A Chart.js chart that updates in place when its labels or values change. */
export function ChartView(props: ChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart | null>(null);
  const latest = useRef(props);
  latest.current = props;
  const { type, horizontal } = props;

  useEffect(() => {
    if (!canvas.current) return;
    const first = latest.current;
    chart.current = new Chart(canvas.current, {
      type,
      data: { labels: [...first.labels], datasets: datasets(first) as never },
      options: options(first),
    });
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [type, horizontal]);

  useEffect(() => {
    const current = chart.current;
    if (current && mergeInto(current.data as never, props.labels, props.series)) current.update();
  });

  return (
    <div class="chart-box">
      <canvas ref={canvas} role="img" aria-label={props.summary} data-testid={props.testid} />
      {props.empty && <p class="chart-empty muted">{props.empty}</p>}
    </div>
  );
}
