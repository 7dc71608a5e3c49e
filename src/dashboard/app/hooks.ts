import { useEffect, useState } from 'preact/hooks';
import type { DashboardState } from '../model/dashboard-state';
import type { LiveProject } from './live-project';

/** The time, re-read every `everyMs`: ages and the oldest wait tick without frames. */
export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

/** The live project's state, re-rendered on every change. */
export function useLiveState(live: LiveProject): DashboardState {
  const [state, setState] = useState(live.state);
  useEffect(() => {
    setState(live.state);
    return live.onChange(() => setState(live.state));
  }, [live]);
  return state;
}
