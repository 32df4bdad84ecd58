import { DirectorClient, directorUrl } from "../roles/client/director.ts";

export const directorArgs = {
  director: { type: "string", description: "the director's URL (default $TEMPEST_DIRECTOR_URL, else http://127.0.0.1:7700)", valueHint: "URL" },
} as const;

/** The director client for a command; the token comes from TEMPEST_TOKEN. */
export function directorClient(flag: string | undefined): DirectorClient {
  const { url, where } = directorUrl(flag);
  return new DirectorClient(url, process.env.TEMPEST_TOKEN || undefined, where);
}
