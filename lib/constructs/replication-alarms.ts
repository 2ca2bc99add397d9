/**
 * Alarms and dashboard rows for PostgreSQL logical replication on a shard's writer: the slot that holds back
 * the most WAL, and the WAL the writer keeps on disk. Kept apart from `StageMonitoring` on purpose (one
 * function on its public facade), so the monitoring construct can change without this file.
 */
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Duration } from 'aws-cdk-lib';
import { pascalCase } from '../config/naming';
import type { AuroraShard } from './aurora-shard';
import type { StageMonitoring } from './stage-monitoring';

const MIB = 1024 * 1024;
const PERIOD = Duration.minutes(5);

/**
 * Adds a shard's logical replication alarms (`<prefix>-Shard<Id>AuroraReplication-ReplicationSlotLag-Critical`
 * and `...-TransactionLogsDiskUsage-Critical`, shard 0 included: these alarms are new, so every one carries
 * its shard id) and dashboard rows to the region's monitoring. Does nothing for a shard without logical
 * replication.
 *
 * The metrics are read by `DBClusterIdentifier` and `Role=WRITER`, so they follow the writer through a
 * failover (Aurora keeps logical slots in the cluster volume).
 */
export function addLogicalReplicationMonitoring(monitoring: StageMonitoring, shard: AuroraShard): void {
  const settings = shard.database.logicalReplication;
  if (settings === undefined) return;
  const metric = (metricName: string, label: string) =>
    new cloudwatch.Metric({
      namespace: 'AWS/RDS',
      metricName,
      dimensionsMap: { DBClusterIdentifier: shard.database.cluster.clusterIdentifier, Role: 'WRITER' },
      statistic: 'Maximum',
      period: PERIOD,
      label,
    });
  const above = (mib: number, description: string, missing: cloudwatch.TreatMissingData) => ({
    Critical: {
      threshold: mib * MIB,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingDataOverride: missing,
      additionalDescription: description,
    },
  });
  monitoring.facade.monitorCustom({
    alarmFriendlyName: `Shard${pascalCase(shard.shardId)}AuroraReplication`,
    humanReadableName: `Aurora shard ${shard.shardId}: logical replication (writer)`,
    metricGroups: [
      {
        title: 'Oldest replication slot lag (bytes)',
        metrics: [
          {
            metric: metric('OldestReplicationSlotLag', 'Oldest slot lag'),
            alarmFriendlyName: 'ReplicationSlotLag',
            addAlarm: above(
              settings.replicationSlotLagAlarmMiB,
              `A replication slot on shard ${shard.shardId}'s writer holds back more than ` +
                `${settings.replicationSlotLagAlarmMiB} MiB of WAL: a move's subscription is stuck or was ` +
                'abandoned. Finish the move, or drop the slot (pg_drop_replication_slot).',
              // Published only while a slot exists: no slot, nothing held back.
              cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
          },
        ],
      },
      {
        title: 'Transaction logs disk usage (bytes)',
        metrics: [
          {
            metric: metric('TransactionLogsDiskUsage', 'Transaction logs'),
            alarmFriendlyName: 'TransactionLogsDiskUsage',
            addAlarm: above(
              settings.transactionLogsDiskUsageAlarmMiB,
              `Shard ${shard.shardId}'s writer keeps more than ${settings.transactionLogsDiskUsageAlarmMiB} MiB ` +
                'of transaction logs, usually retained for a replication slot: billed as storage and never ' +
                'freed while the slot holds it.',
              cloudwatch.TreatMissingData.MISSING,
            ),
          },
        ],
      },
    ],
  });
}
