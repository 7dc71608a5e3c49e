import { ClientSubscription, RealtimeClient, topic } from '../../client';
import { agentIdsIn } from '../model/agents';
import { DashboardEvent, DashboardState, initialState, reduce } from '../model/dashboard-state';
import { fetchMyProjects } from './api';

/** While reconnecting, the page asks the HTTP API whether the token still works at most this often. */
const TOKEN_PROBE_EVERY_MS = 5000;

export interface LiveProjectOptions {
  /** `ws(s)://<this host><WS_SERVER_PATH>` */
  url: string;
  token: string;
  project: string;
  /**
   * From `/v1/me/projects`: true subscribes to `/P/metrics` and follows the agents (the team view); false does
   * neither (the member may not read metrics: do not even ask); undefined (the list was not available) asks, and a
   * `forbidden` answer turns the page into the member's own view.
   */
  analytics: boolean | undefined;
  /** The viewer's own project_user, followed through T4. */
  projectUserId: string | undefined;
  /** The token was refused or expired: the page asks to sign in again. */
  onUnauthorized(): void;
}

/**
 * One project, live: the typed client's socket, the topics the page needs, and the dashboard state the frames
 * build (model/dashboard-state.ts). The views read `state` and re-render on `onChange`.
 */
export class LiveProject {
  private current: DashboardState = initialState();
  private readonly listeners = new Set<() => void>();
  private readonly client: RealtimeClient;
  private readonly followed = new Map<string, ClientSubscription>();
  private teamView: boolean;
  private stopped = false;
  private lastProbeMs = 0;

  constructor(private readonly opts: LiveProjectOptions) {
    this.teamView = opts.analytics !== false;
    // A small fleet of pages: come back within 10 s of a replica's return, at the latest.
    this.client = new RealtimeClient({ url: opts.url, token: opts.token, reconnect: { maxDelayMs: 10_000 } });
  }

  get state(): DashboardState {
    return this.current;
  }

  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  start(): void {
    const { project } = this.opts;
    this.client.on('state', (s) => this.dispatch({ type: 'connection', state: s, reconnects: this.client.reconnects }));
    this.client.on('close', (e) => {
      if (e.willReconnect) this.probeToken();
    });
    // A token that expires while connected: the service closes with 4001 and the client says so.
    this.client.on('unauthorized', () => this.opts.onUnauthorized());

    this.dispatch({ type: 'subscribing', topic: 'requests' });
    this.client.subscribe(topic.requests(project), {
      onFrame: (f) => {
        this.dispatch({ type: 'requests', method: f.payload.method, message: f.payload.message });
        if (this.teamView) this.followAgents();
      },
      onError: (e) => this.dispatch({ type: 'refused', topic: 'requests', code: e.code, message: e.message }),
    });
    if (this.opts.analytics !== false) {
      this.dispatch({ type: 'subscribing', topic: 'metrics' });
      this.client.subscribe(topic.metrics(project), {
        onFrame: (f) => this.dispatch({ type: 'metrics', message: f.payload.message, receivedAtMs: Date.now() }),
        onError: (e) => {
          // Not allowed to read metrics: the member's own view, without the team's agents either.
          if (e.code === 'forbidden') this.leaveTeamView();
          this.dispatch({ type: 'refused', topic: 'metrics', code: e.code, message: e.message });
        },
      });
    }
    if (this.opts.projectUserId !== undefined) {
      this.client.subscribe(topic.projectUser(project, this.opts.projectUserId), {
        onFrame: (f) => this.dispatch({ type: 'me', message: f.payload.message }),
      });
    }
    this.client.connect();
  }

  /** Sets the server clock offset from an HTTP Date header (pages without metrics). */
  clock(offsetMs: number): void {
    this.dispatch({ type: 'clock', offsetMs });
  }

  stop(): void {
    this.stopped = true;
    this.client.close();
    this.listeners.clear();
  }

  /**
   * The agents panel follows, through T5, every agent the visible requests name (protocol.md has no topic listing
   * a project's members; see model/agents.ts). Followed agents stay followed while the page is open.
   */
  private followAgents(): void {
    const ids = agentIdsIn(this.current.requests, [...this.followed.keys()]);
    const fresh = ids.filter((id) => !this.followed.has(id));
    if (fresh.length === 0) return;
    this.dispatch({ type: 'follow-agents', userIds: fresh });
    for (const userId of fresh) {
      const sub = this.client.subscribe(topic.projectUserByUser(this.opts.project, userId), {
        onFrame: (f) => this.dispatch({ type: 'agent', userId, message: f.payload.message }),
      });
      this.followed.set(userId, sub);
    }
  }

  /**
   * A browser cannot see why an upgrade was refused (a 401 is a close 1006 there, like a network failure): while
   * the socket fails, the same token is tried on the HTTP API, whose 401 the page can read.
   */
  private probeToken(): void {
    const now = Date.now();
    if (now - this.lastProbeMs < TOKEN_PROBE_EVERY_MS) return;
    this.lastProbeMs = now;
    void fetchMyProjects(this.opts.token).then((answer) => {
      if (answer.kind === 'unauthorized' && !this.stopped) this.opts.onUnauthorized();
    });
  }

  private leaveTeamView(): void {
    this.teamView = false;
    for (const sub of this.followed.values()) sub.unsubscribe();
    this.followed.clear();
  }

  private dispatch(event: DashboardEvent): void {
    if (this.stopped) return;
    const next = reduce(this.current, event);
    if (next === this.current) return;
    this.current = next;
    for (const fn of this.listeners) fn();
  }
}
