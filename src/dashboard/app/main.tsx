import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { App } from './app';

/** The service writes its WS_SERVER_PATH into the page (serve/dashboard-files.ts); `/` is Tiledesk's default. */
function wsPath(): string {
  const content = document.querySelector('meta[name="realtime-ws-path"]')?.getAttribute('content') ?? '/';
  return content.startsWith('/') ? content : '/';
}

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App wsPath={wsPath()} />, root);
}
