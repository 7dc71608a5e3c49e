/**
 * The pub/sub channel of one project: `<prefix>p:{<projectId>}`. The braces are a Redis Cluster hash tag, so the
 * channel hashes to the same slot as the project's keys (`<prefix>{<projectId>}:...`) and the read model can
 * publish from the same commit script that writes them (SPUBLISH on a cluster).
 */
export function projectChannel(prefix: string, projectId: string): string {
  return `${prefix}p:{${projectId}}`;
}
