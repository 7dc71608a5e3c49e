import { ProjectDoc, ProjectUserDoc } from '../../domain/documents';
import { MembersRead } from '../read-model';

/**
 * Every membership of a project at one seq, in one script (one round trip, atomic with the seq): the project,
 * the user id → project_user id index (`pu:user`, which a subscribe resolves its member by) and the
 * project_users it points to. KEYS[1]: the project's `seq` key (routes the script to the project's slot);
 * ARGV[1]: the project's key base.
 */
export const READ_MEMBERS_SCRIPT = `
local base = ARGV[1]
local seq = tonumber(redis.call('GET', base .. 'seq') or '0')
local project = redis.call('GET', base .. 'project')
local index = redis.call('HGETALL', base .. 'pu:user')
local ids = {}
for i = 2, #index, 2 do ids[#ids + 1] = index[i] end
local docs = {}
for i = 1, #ids, 1000 do
  local chunk = redis.call('HMGET', base .. 'pu', unpack(ids, i, math.min(i + 999, #ids)))
  for j = 1, #chunk do docs[#docs + 1] = chunk[j] end
end
return { seq, project, index, docs }
`;

export type MembersReply = [number, string | null, string[], Array<string | null>];

/** The script's answer as a MembersRead: user id → the project_user the index points to. */
export function membersReadOf(reply: MembersReply): MembersRead {
  const [seq, project, index, docs] = reply;
  const members = new Map<string, ProjectUserDoc>();
  for (let i = 0; i < index.length; i += 2) {
    const json = docs[i / 2];
    if (json) members.set(index[i]!, JSON.parse(json) as ProjectUserDoc);
  }
  return { seq: Number(seq), project: project ? (JSON.parse(project) as ProjectDoc) : null, members };
}
