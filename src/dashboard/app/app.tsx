import { useCallback, useEffect, useState } from 'preact/hooks';
import type { MemberProject } from '../../analytics/metrics-shape';
import { clockOffsetFromDateHeader } from '../model/server-clock';
import { fragmentFor, isExpired, parseFragment, readClaims } from '../model/session';
import { fetchMyProjects } from './api';
import { ProjectChoice, ProjectView } from './project-view';
import { SignIn } from './sign-in';

const TOKEN_KEY = 'realtime-dashboard-token';

export const SIGN_IN_MESSAGES = {
  expired: 'Your session expired — sign in again.',
  refused: 'This token was not accepted — sign in again.',
} as const;

type Phase =
  | { kind: 'signed-out'; message: string | null }
  | { kind: 'loading'; token: string }
  | {
      kind: 'ready';
      token: string;
      /** null: /v1/me/projects did not answer; the project from the URL is tried as it is. */
      projects: MemberProject[] | null;
      listError: string | null;
      clockOffsetMs: number;
    };

function storedToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token === null) sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (private mode): the token lives as long as the page.
  }
}

/** Keeps the project (never the token) in the address bar, so that a copied URL carries no credential. */
function showProject(project: string | undefined): void {
  history.replaceState(null, '', `${location.pathname}${location.search}${fragmentFor(project)}`);
}

function signedOutMessage(token: string): string {
  return isExpired(readClaims(token), Date.now()) ? SIGN_IN_MESSAGES.expired : SIGN_IN_MESSAGES.refused;
}

export function App(props: { wsPath: string }) {
  const [phase, setPhase] = useState<Phase>({ kind: 'signed-out', message: null });
  const [project, setProject] = useState<string | undefined>(undefined);

  const signIn = useCallback((token: string) => {
    if (isExpired(readClaims(token), Date.now())) {
      storeToken(null);
      setPhase({ kind: 'signed-out', message: SIGN_IN_MESSAGES.expired });
      return;
    }
    storeToken(token);
    setPhase({ kind: 'loading', token });
    void fetchMyProjects(token).then((answer) => {
      if (answer.kind === 'unauthorized') {
        storeToken(null);
        setPhase({ kind: 'signed-out', message: signedOutMessage(token) });
        return;
      }
      if (answer.kind === 'failed') {
        setPhase({
          kind: 'ready',
          token,
          projects: null,
          listError: `Your projects could not be listed: ${answer.message}.`,
          clockOffsetMs: 0,
        });
        return;
      }
      const projects = answer.body.projects;
      setProject((current) => current ?? (projects.length === 1 ? projects[0]!.project_id : undefined));
      setPhase({
        kind: 'ready',
        token,
        projects,
        listError: null,
        clockOffsetMs: clockOffsetFromDateHeader(answer.dateHeader, answer.receivedAtMs),
      });
    });
  }, []);

  const signOut = useCallback((message: string | null) => {
    storeToken(null);
    setPhase({ kind: 'signed-out', message });
  }, []);

  // The token and project from the fragment (on load, and when a new one is pasted into the address bar).
  useEffect(() => {
    const adopt = () => {
      const fragment = parseFragment(location.hash);
      if (fragment.project !== undefined) setProject(fragment.project);
      const token = fragment.token ?? storedToken();
      if (fragment.token !== undefined) showProject(fragment.project);
      if (token !== null) signIn(token);
    };
    adopt();
    const onHash = () => {
      if (parseFragment(location.hash).token !== undefined) adopt();
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, [signIn]);

  useEffect(() => {
    if (phase.kind === 'ready') showProject(project);
  }, [phase.kind, project]);

  if (phase.kind === 'signed-out') return <SignIn message={phase.message} onToken={signIn} />;
  if (phase.kind === 'loading') return <p class="notice">Signing in…</p>;

  const token = phase.token;
  const claims = readClaims(token);
  const listed = phase.projects?.find((p) => p.project_id === project);
  const choice: ProjectChoice | null = listed ?? (project !== undefined && phase.projects === null ? { project_id: project } : null);
  return (
    <div class="page">
      <header class="top">
        <span class="brand">Realtime dashboard</span>
        {phase.projects !== null && phase.projects.length > 0 && (
          <label class="picker">
            Project{' '}
            <select data-testid="project-picker" value={project ?? ''} onChange={(e) => setProject(e.currentTarget.value || undefined)}>
              {listed === undefined && <option value="">Choose a project…</option>}
              {phase.projects.map((p) => (
                <option key={p.project_id} value={p.project_id}>
                  {p.name ?? p.project_id} ({p.role})
                </option>
              ))}
            </select>
          </label>
        )}
        <span class="muted small">{claims?.name ?? claims?.userId ?? ''}</span>
        <button type="button" class="link" onClick={() => signOut(null)}>
          Sign out
        </button>
      </header>
      {phase.listError !== null && <p class="notice info">{phase.listError}</p>}
      {phase.projects !== null && phase.projects.length === 0 && (
        <p class="notice bad" data-testid="notice-no-projects">
          You are not an active member of any project this service knows.
        </p>
      )}
      {phase.projects !== null && project !== undefined && listed === undefined && (
        <p class="notice bad" data-testid="notice-not-member" role="alert">
          You are not an active member of project {project}.
        </p>
      )}
      {choice === null && phase.projects !== null && phase.projects.length > 0 && listed === undefined && project === undefined && (
        <p class="notice info">Choose a project.</p>
      )}
      {choice !== null && (
        <ProjectView
          key={`${choice.project_id}`}
          token={token}
          wsPath={props.wsPath}
          choice={choice}
          clockOffsetMs={phase.clockOffsetMs}
          onUnauthorized={() => signOut(signedOutMessage(token))}
        />
      )}
    </div>
  );
}
