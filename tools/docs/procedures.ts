/**
 * Hand-written procedures of upgrades that need steps beyond `cdk deploy`, appended to the generated upgrade
 * page (`docs/upgrades/<from>-to-<to>.md`). Keyed by `<from>-><to>`; tools may know stage ids, `lib/` never does.
 */

/** The zero-downtime cut-over from the public load balancer to the API gateway (stage `100k` -> `1m`). */
const CUT_OVER_TO_GATEWAY = `## Procedure: cut-over from the public load balancer to the API gateway

\`cdk deploy\` of \`1m\` changes nothing users see: the monolith (\`shop\`) and the public load balancer keep
serving every request exactly as in \`100k\`, while the users, products and orders services start next to them
behind the API gateway (HTTP API → VPC link → internal load balancer). Products deploys before orders, which
calls it over Service Connect. Both paths share the same databases, cache, session store and session secret, so a
user moves between them without logging in again. The front door then moves by DNS:

1. **Deploy** \`npx cdk deploy --all -c stage=1m\` with the same HTTPS context as before (\`domainName\` and
   \`hostedZoneId\`/\`hostedZoneName\` or \`certificateArn\`): the gateway gets the custom domain with the same
   certificate, and the VPC link verifies it on the internal HTTPS listener. With the hosted zone the blueprint
   owns the domain's record, and a stage with a gateway refuses to synthesise until you say where it points: add
   \`-c frontDoor=alb\` (the public load balancer, as in \`100k\`), or better \`"frontDoor": "alb"\` in
   \`cdk.json\`'s \`"context"\`.
2. **Lower the TTL** of the domain's record a day ahead (at least the old TTL before the switch), e.g. to 60 s, if
   your DNS is outside Route 53. The blueprint's alias record in the hosted zone has no TTL of its own: Route 53
   answers alias records with the target's (60 s for a load balancer and for API Gateway).
3. **Test on the execute-api URL** (output \`GatewayUrl\` of \`<prefix>-service\`): the storefront loads, sign-up,
   log-in, catalog, an order and its cancellation work; \`/internal/...\` answers 403 from the gateway and
   \`/metrics\` 404; the gateway's alarms (\`<prefix>-Gateway-*\`, \`<prefix>-InternalLoadBalancer-*\`) and the
   per-service alarms are green; the event queues drain (\`<prefix>-Events-*\`, \`<prefix>-*EventQueue-*\`). Log-in
   and sign-up are throttled more strictly at the gateway than the rest.
4. **Switch the record**: with the hosted zone, \`npx cdk deploy <prefix>-service -c stage=1m -c frontDoor=gateway\`
   (the same alias record, updated in place, now points at the gateway's custom domain, output
   \`GatewayDomainTarget\`), then set \`"frontDoor": "gateway"\` in \`cdk.json\`'s \`"context"\` and commit it:
   every later deploy keeps the record on the gateway (synth fails rather than guess when the key is missing). With
   your own DNS, point the record (CNAME or alias) at \`GatewayDomainTarget\`.
5. **Wait the TTL** (and a margin for resolvers that cache longer): until then some clients still reach the public
   load balancer, which keeps serving them, so nothing fails during the switch.
6. **Watch** the public load balancer's request count fall to near zero and the gateway's rise; watch the
   gateway's 5xx rate and p99 latency and each service's alarms. **Roll back** by deploying with
   \`-c frontDoor=alb\` (and \`"frontDoor": "alb"\` back in \`cdk.json\`), or by pointing your own record back: the
   monolith never stopped.
7. **Retire** the monolith and the public load balancer once the public load balancer has carried no user traffic
   for a few days: a later change removes the first service from the stage (first scale it to its minimum), then
   the public load balancer and its listeners. Keep the access-log bucket, and the stack outputs a deployed stack
   still reads, until the next upgrade. Both are stateless, so \`npm run diff\` will show removals but no data
   loss; until then they cost their tasks and hours (see the stage's cost page).

App side: the products service's internal server (\`INTERNAL_PORT\` 3001, the only port Service Connect publishes)
keeps its HTTP keep-alive (65 s) above Service Connect's idle timeout (60 s, \`SERVICE_CONNECT_DEFAULTS\` in
\`lib/config/defaults.ts\`). Replay of domain events from the archive
\`<prefix>-events-archive\`: \`aws events start-replay\` with the bus as destination (consumers deduplicate by event id).
`;

/** Stage `1m` -> `global`: the home region becomes the primary of Aurora Global Database, further regions join. */
const GO_GLOBAL = `## Procedure: from one region to three

The home region's stacks keep their names and logical ids: for them this is an in-place upgrade. Every further
region's stacks are new, and so are the edge (\`<prefix>-edge\`, us-east-1) and routing (\`<prefix>-routing\`) stacks.
Order matters, because a secondary cluster can only join a global cluster that exists, and the home secrets are
replicated with a key that lives in each further region:

1. **Prerequisites.** The stage 1m cut-over is done (\`"frontDoor": "gateway"\` in \`cdk.json\`'s \`"context"\`, and it
   stays \`gateway\` until step 7: the domain keeps pointing at the home gateway while everything else deploys), and
   the deployment has its domain and hosted zone (\`domainName\`, \`hostedZoneId\`, \`hostedZoneName\`). Choose the
   regions, the current one first: \`"regions": "us-east-1,eu-west-1,ap-southeast-2"\` in \`cdk.json\` (zones with
   \`availabilityZones.<region>\`, default \`<region>a,b,c\`), and \`npx cdk bootstrap aws://<account>/<region>\` each
   further region. Synth without these keys fails and names each one.
2. **Further regions' networks**: \`npx cdk deploy 'EuWest1/ShopNetwork' 'ApSoutheast2/ShopNetwork' -c stage=global\`
   (VPC, and the key their replicas of the home database secrets are encrypted with). Nothing is live there yet.
3. **Home data and shards**: \`npx cdk deploy ShopData 'ShopShard*' -c stage=global\`. In this order, per shard: every
   Aurora instance moves to db.r7g.large (Global Database rejects burstable classes) — each reader restarts, then
   the writer fails over to a reader (**under a minute of failed writes and reset connections per shard**: the app
   reconnects and retries reads; orders placed in that window fail with a 5xx and can be retried); then the
   global cluster is made from the running cluster (\`<prefix>-shard0-global\`, \`<prefix>-<shard>-global\`: nothing
   restarts, no data moves, endpoints stay); the master and app secrets gain replicas in each further region. The
   Redis group scales online to cache.r7g.large (a few seconds of paused writes at the switch). Deploy in a quiet
   hour, and watch the writers' alarms.
4. **Further regions' data and shards**: \`npx cdk deploy 'EuWest1/ShopData' 'EuWest1/ShopShard*' ...\` (and the same
   for the third region). Each secondary cluster copies the whole volume before its readers serve (minutes to
   hours by size); wait until \`aws rds describe-global-clusters\` lists every member and the region's
   \`AuroraGlobalDBRPOLag\` alarms are OK.
5. **Services**, home first (\`ShopService\`), then the further regions' (\`EuWest1/ShopService\`, ...): rolling
   deployments, no downtime. A further region's services read their region's secondary cluster and answer writes
   with 421 (writes are served by the home region).
6. **Edge and routing** (\`<prefix>-edge-replica\`, \`<prefix>-edge\`, \`<prefix>-routing\`), still with
   \`frontDoor=gateway\`: the routing stack deploys after every region's service stack (its records alias theirs) and
   publishes \`api.<domainName>\`, CloudFront's \`/api/*\` origin. Users are still served by the home gateway exactly as
   before: nothing points the domain at the edge yet.
7. **Move the domain to the edge**: set \`"frontDoor": "edge"\` in \`cdk.json\` and deploy the home \`ShopService\`
   (the cut-over below: the domain's record now aliases the distribution, in place). From then on reads are served
   in the nearest healthy region, and writes (and a user's reads just after a write) in the home region. Moving the
   domain before step 6 would send every API call to a host that does not exist yet, which is why it is a step of
   its own and not a stack dependency.

What users see: the failover of each writer in step 3 (under a minute of failed writes), the DNS switch of step 7
(both targets serve during the TTL), nothing else; nobody is
signed out (sessions stay in the same Redis group, now the primary of a Global Datastore). Rolling back: the
further regions' stacks can be deleted (their clusters have deletion protection: turn it off, then remove each
secondary from its global cluster with \`aws rds remove-from-global-cluster\`); the home clusters keep working as
primaries of global clusters with no secondaries, and the instance classes stay memory-optimised.

### The edge: CloudFront in front of the shop

Stage \`global\` serves the shop's domain from CloudFront: the static storefront from S3 (a bucket in us-east-1 and
a copy in a second region, an origin group between them), \`/api/*\` from the API hostname \`api.<domainName>\` that
Route 53 routes to a region (stack \`<prefix>-routing\`). Three stacks take part, and **each DNS record has exactly one
owning stack**:

| record | owner | points at |
| --- | --- | --- |
| \`edge.<domainName>\` A and AAAA (new) | \`<prefix>-edge\` (us-east-1) | the CloudFront distribution |
| \`<domainName>\` A (since stage 1k) | \`<prefix>-service\` (home region) | stage 1m: the gateway's custom domain; stage global: \`edge.<domainName>\` (an alias in the same hosted zone) |
| \`<domainName>\` AAAA (new) | \`<prefix>-service\` (home region) | \`edge.<domainName>\` |

The domain's A record is **not moved** to another stack: it stays the record stage 1k created (same construct, same
logical id), and stage global changes its alias target, which CloudFormation applies as an in-place update
(\`UPSERT\`, no interruption), exactly like the stage 1m cut-over to the gateway. Moving the record to the edge stack
instead would need either a window with no record (delete in one stack, create in the other) or a
\`deleteExisting\` custom resource, and CloudFormation would then try to delete, from the service stack, a record
whose values no longer match (Route 53 rejects a \`DELETE\` that does not match the current values exactly). An alias
to a name in the same zone needs no CDK cross-region reference either: \`edge.<domainName>\` is deterministic, and
the distribution's generated \`dxxxx.cloudfront.net\` name never leaves the edge stack.

#### Order

With \`frontDoor=gateway\` (steps 1–6 above), \`cdk deploy --all\` deploys \`<prefix>-edge-replica\` before
\`<prefix>-edge\`, and \`<prefix>-routing\` after every service stack; nothing points the domain at the edge. With
\`frontDoor=edge\` (step 7) the home \`<prefix>-service\` also waits for \`<prefix>-edge\`.

1. **Deploy the replica and the edge** (\`npx cdk deploy <prefix>-edge-replica <prefix>-edge -c stage=global ...\`):
   the replica bucket gets the storefront files and admits CloudFront of this account; the edge stack creates the
   us-east-1 certificate (DNS-validated in the hosted zone: CloudFormation waits until ACM has issued it), the
   storefront bucket and its files, the WAF web ACL, the \`/api/*\` function, the distribution (15–30 minutes to
   deploy to every edge location) and the records of \`edge.<domainName>\`. The shop is still served by the gateway:
   nothing users see has changed.
2. **Test the distribution before the switch**: \`curl --connect-to <domainName>:443:edge.<domainName>:443
   https://<domainName>/\` returns the storefront (\`index.html\`), \`.../api/products\` a catalog page through the
   geo-routed API hostname, and a \`POST\` (e.g. a failed log-in) reaches the home region (its request id appears in
   the home region's gateway access log). The API hostnames \`api.<domainName>\` and \`api-<region>.<domainName>\` must
   already answer (stack \`<prefix>-routing\` and each region's gateway custom domains: step 6 above).
3. **Switch**: set \`"frontDoor": "edge"\` and deploy the home region's \`<prefix>-service\`. Its record of \`<domainName>\` now aliases
   \`edge.<domainName>\` (in place), and an AAAA record is added. Route 53 refuses an alias to a name that does not
   exist, so deploying this stack before step 1 fails and rolls back; it never leaves the domain without a record.
4. **Wait 60 s** (the alias answer carries the target's TTL, 60 s for CloudFront and for API Gateway): clients
   still on the old answer reach the gateway, which keeps serving the same API; the storefront is the same files.
5. **Watch** the distribution's \`5xxErrorRate\`, the WAF's \`BlockedRequests\` (a managed rule blocking real traffic
   shows here first; set that rule to count in the web ACL while you look), and the gateway's request count moving
   to the API hostname's regional custom domains.
6. **Roll back** by deploying only the home region's \`<prefix>-service\` with stage 1m's template
   (\`npx cdk deploy <prefix>-service -c stage=1m -c frontDoor=gateway ...\`): the same A record points at the
   gateway again, in place, and the AAAA record is deleted (this also takes back the home service's other stage
   global changes, which the home region can run without). An \`UPSERT\` by hand to the \`GatewayDomainTarget\` output
   is faster, but it is drift that the next deployment of stage global undoes. The edge stacks can stay deployed
   (they serve nothing while no record points at them) or be destroyed (the storefront and log buckets are
   retained: empty and delete them by hand).

#### Interruptions

None expected: the domain's record is updated in place and both targets serve the shop during the resolvers' TTL.
CloudFront caches the storefront's files (managed policy \`CachingOptimized\`); every deployment of the edge stack
invalidates \`/*\` so a new version of the storefront is served within minutes.

#### What the template diff shows

- \`<prefix>-edge\` and \`<prefix>-edge-replica\`: new stacks, nothing replaced.
- \`<prefix>-service\` (home region): \`AWS::Route53::RecordSet\` \`ShopAliasRecord…\` **updated** (\`AliasTarget\`),
  \`AWS::Route53::RecordSet\` \`DomainRecordIpv6…\` **added**. No other change from the edge.
`;

/** Procedures by `<from>-><to>`. */
export const UPGRADE_PROCEDURES: Readonly<Record<string, string>> = {
  '100k->1m': CUT_OVER_TO_GATEWAY,
  '1m->global': GO_GLOBAL,
};

/** The hand-written procedure of an upgrade, if it has one. */
export function upgradeProcedure(from: string, to: string): string | undefined {
  const key = `${from}->${to}`;
  return Object.prototype.hasOwnProperty.call(UPGRADE_PROCEDURES, key) ? UPGRADE_PROCEDURES[key] : undefined;
}
