import { execFileSync } from 'node:child_process';

/**
 * Whether a system tool the deploy checks need (nginx, docker-compose) is installed. .ci/run
 * installs them, so under CI a missing tool is a failure, not a skip; on a developer's machine
 * without them those checks are skipped with a message.
 */
export function hasTool(cmd: string, args: string[] = ['--version']): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

export function requireTool(cmd: string, args?: string[]): boolean {
  const ok = hasTool(cmd, args);
  if (!ok && process.env.CI) throw new Error(`${cmd} is not installed, and CI must run this check (.ci/run installs it)`);
  if (!ok) console.warn(`skipping: ${cmd} is not installed (apt-get install it to run this check)`);
  return ok;
}
