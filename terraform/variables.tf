# Validations here refer only to variables, so this file can be tested on its own (tests/terraform).

# --- Environment and account ---
variable "environment" {
  description = "Deployment environment; must equal the selected Terraform workspace."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "var.environment must be one of dev, staging, production."
  }
}

variable "aws_region" {
  description = "Primary AWS region."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$", var.aws_region))
    error_message = "var.aws_region must be an AWS region name such as us-east-1 or eu-west-2."
  }
}

variable "dr_region" {
  description = "Disaster-recovery region for the DynamoDB replica, replicated backups and the backup vault copy."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-(north|south|east|west|central|northeast|northwest|southeast|southwest)-[1-9]$", var.dr_region))
    error_message = "var.dr_region must be an AWS region name such as us-west-2."
  }

  validation {
    condition     = var.dr_region != var.aws_region
    error_message = "var.dr_region must differ from var.aws_region: a disaster-recovery copy in the same region protects nothing."
  }
}

variable "dr_mode" {
  description = "Empty for the primary stack; playbooks/dr.yml sets \"drill\" (a stack of its own names beside the primary, removed after) or \"failover\" (the stack that replaces a lost primary on its replicas)."
  type        = string
  default     = ""

  validation {
    condition     = contains(["", "drill", "failover"], var.dr_mode)
    error_message = "var.dr_mode must be empty, \"drill\" or \"failover\" (set by playbooks/dr.yml -e dr_mode=...)."
  }
}

variable "dr_uploads_bucket" {
  description = "The uploads bucket a DR stack runs on (set by playbooks/dr.yml: the replica in a failover, the drill's copy in a drill)."
  type        = string
  default     = ""

  validation {
    condition     = (var.dr_mode == "") == (var.dr_uploads_bucket == "")
    error_message = "var.dr_uploads_bucket is set by playbooks/dr.yml together with var.dr_mode, and only then."
  }
}

variable "dr_database_backup_arn" {
  description = "The database a DR stack restores (set by playbooks/dr.yml): the ARN of the primary's automated backups replicated to this region (backup.tf); the stack's database starts from their latest restorable time. Empty: a new, empty database."
  type        = string
  default     = ""

  validation {
    condition     = var.dr_database_backup_arn == "" || (var.dr_mode != "" && can(regex("^arn:aws[a-z-]*:rds:[a-z0-9-]+:[0-9]{12}:auto-backup:", var.dr_database_backup_arn)))
    error_message = "var.dr_database_backup_arn is set by playbooks/dr.yml with var.dr_mode, to the ARN of replicated automated backups (arn:aws:rds:<region>:<account>:auto-backup:ab-...)."
  }
}

variable "dr_failover_routing" {
  description = "Route 53 failover of origin.<domain> to the DR region (failover.tf): a health check on the primary's public ALB and one Elastic IP per zone held in the DR region for a DR stack's entry, about $9-12 a month. false: origin.<domain> is a plain record, and a DR stack rebuilt there serves no traffic until the record is changed by hand (a Route 53 control-plane write)."
  type        = bool
  default     = true
}

variable "allowed_account_ids" {
  description = "AWS account IDs this environment may be applied to; the provider refuses any other account."
  type        = list(string)

  validation {
    condition     = length(var.allowed_account_ids) > 0 && alltrue([for id in var.allowed_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "var.allowed_account_ids must list at least one 12-digit AWS account ID."
  }
}

variable "cost_center" {
  description = "CostCenter tag value for cost allocation."
  type        = string
  default     = "ollama"
}

variable "owner" {
  description = "Owner tag value (team or contact)."
  type        = string
  default     = "platform-team"
}

variable "extra_tags" {
  description = "Additional tags applied to every resource."
  type        = map(string)
  default     = {}
}

# --- Network ---
variable "vpc_cidr" {
  description = "IPv4 CIDR of the VPC (a /16 to /20 private range)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && can(regex("^(10\\.|172\\.(1[6-9]|2[0-9]|3[01])\\.|192\\.168\\.)", var.vpc_cidr)) && tonumber(try(split("/", var.vpc_cidr)[1], "0")) >= 16 && tonumber(try(split("/", var.vpc_cidr)[1], "0")) <= 20
    error_message = "var.vpc_cidr must be a valid RFC 1918 IPv4 CIDR between /16 and /20, for example 10.20.0.0/16."
  }
}

variable "az_count" {
  description = "Number of availability zones to spread subnets and instances over (2 or 3; production uses 3)."
  type        = number
  default     = 2

  validation {
    condition     = contains([2, 3], var.az_count)
    error_message = "var.az_count must be 2 or 3: high availability needs at least two zones."
  }
}

variable "availability_zone_suffixes" {
  description = "Zone letters the VPC may use, in order (the first az_count are used); pinned so a new AWS zone never moves subnets."
  type        = list(string)
  default     = ["a", "b", "c"]

  validation {
    condition     = length(var.availability_zone_suffixes) >= var.az_count && alltrue([for s in var.availability_zone_suffixes : can(regex("^[a-z]$", s))])
    error_message = "var.availability_zone_suffixes must list at least var.az_count single zone letters, e.g. [\"a\", \"b\", \"c\"]."
  }
}

variable "single_nat_gateway" {
  description = "Use one NAT gateway for all zones (cheaper, not zone-redundant). Production uses one per zone."
  type        = bool
  default     = true
}

variable "nat_gateway_enabled" {
  description = "Create NAT gateway(s). Instances never use them (their security groups reach only the VPC endpoints); the AMI bake's builder does. false: set platform_bake_public_subnet in the inventory so the builder runs in a public subnet with a public IP instead."
  type        = bool
  default     = true
}

variable "vpc_interface_endpoints" {
  description = "AWS services the instances reach through interface endpoints. The boot path needs autoscaling (lifecycle hook), secretsmanager (API token, Open-WebUI secrets), logs and monitoring (CloudWatch agent, scaling metrics) ec2 (the agent's AutoScalingGroupName dimension); elasticloadbalancing lets a frontend restart out of its target group after a secret rotation (without it, as in dev, it restarts in place); ssm, ssmmessages and ec2messages serve Session Manager shells and configure.yml; kms direct key calls."
  type        = list(string)
  default     = ["autoscaling", "secretsmanager", "logs", "monitoring", "ec2", "elasticloadbalancing", "ssm", "ssmmessages", "ec2messages", "kms"]

  validation {
    condition     = length(setsubtract(["autoscaling", "secretsmanager", "logs", "monitoring", "ec2"], var.vpc_interface_endpoints)) == 0
    error_message = "vpc_interface_endpoints must include autoscaling, secretsmanager, logs, monitoring and ec2: an instance's boot calls them and has no other way out of the VPC."
  }
}

variable "vpc_interface_endpoints_single_zone" {
  description = "Place the interface endpoints in the first private subnet only (other zones reach them across zones): a fraction of the cost, no zone redundancy of the API path."
  type        = bool
  default     = false
}

# --- Entry: domain, CloudFront, WAF ---
variable "domain_name" {
  description = "Public domain of the service (required: every environment carries user data, and the certificates for it, origin.<domain> and backend.<domain> keep every hop on TLS)."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "var.domain_name must be a lower-case DNS name such as chat.example.com: without a domain CloudFront would reach the load balancer over plain HTTP with passwords and chats; set domain_name and route53_zone_id in environments/<env>.tfvars."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone that holds var.domain_name (certificate validation and the service, origin and backend records)."
  type        = string

  validation {
    condition     = can(regex("^Z[A-Z0-9]{4,32}$", var.route53_zone_id))
    error_message = "var.route53_zone_id must be the hosted zone ID (Z...) of var.domain_name."
  }
}

variable "cloudfront_price_class" {
  description = "CloudFront price class."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.cloudfront_price_class)
    error_message = "var.cloudfront_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "cloudfront_origin_timeout_quota_seconds" {
  description = "CloudFront's origin response timeout quota of the account: 60 s by default, up to 180 s after a quota increase. Timeouts derive from terraform/stream_timeouts.json up to this bound."
  type        = number
  default     = 60

  validation {
    condition     = var.cloudfront_origin_timeout_quota_seconds >= 1 && var.cloudfront_origin_timeout_quota_seconds <= 180
    error_message = "var.cloudfront_origin_timeout_quota_seconds must be between 1 and 180 (CloudFront's largest origin response timeout)."
  }
}

variable "waf_rate_limit" {
  description = "Requests per 5 minutes from one IP before WAF blocks it. The default, 12000 (40 per second), is twice the peak of the load test through CloudFront (docs/LOADTESTING.md: 20 chat users from one address, at most ~18 requests per second) and still stops a single-address flood."
  type        = number
  default     = 12000

  validation {
    condition     = var.waf_rate_limit >= 100 && var.waf_rate_limit <= 2000000000
    error_message = "var.waf_rate_limit must be between 100 and 2000000000 (AWS WAF limits)."
  }
}

# --- Compute ---
variable "ollama_fleet_enabled" {
  description = "Create the fleet: per-tier image lookups, launch templates, Auto Scaling groups and what hangs on them. The first deploy of a new account applies with false (the foundation the bake needs: table, subnets, instance roles, logs bucket), bakes the images (playbooks/bake_ami.yml writes /ollama/<env>/<tier>/ami-id), then applies with true."
  type        = bool
  default     = true
}

variable "ollama_backend_instance_types" {
  description = "Instance types for the Ollama backend ASG, in order of preference (CPU such as c6i.xlarge or GPU such as g5.xlarge)."
  type        = list(string)

  validation {
    condition     = length(var.ollama_backend_instance_types) > 0 && alltrue([for t in var.ollama_backend_instance_types : can(regex("^(t3|t3a|m6i|m7i|c6i|c7i|c6a|c7a|r6i|r7i|g4dn|g5|g6|g6e|p4d|p5)\\.(medium|large|[0-9]*xlarge|metal)$", t))])
    error_message = "var.ollama_backend_instance_types must list instance types from the supported families (t3, t3a, m6i, m7i, c6i, c7i, c6a, c7a, r6i, r7i, g4dn, g5, g6, g6e, p4d, p5), e.g. c6i.xlarge."
  }
}

variable "ollama_frontend_instance_types" {
  description = "Instance types for the Open-WebUI frontend ASG, in order of preference."
  type        = list(string)

  validation {
    condition     = length(var.ollama_frontend_instance_types) > 0 && alltrue([for t in var.ollama_frontend_instance_types : can(regex("^(t3|t3a|m6i|m7i|c6i|c7i|c6a|c7a|r6i|r7i)\\.(medium|large|[0-9]*xlarge)$", t))])
    error_message = "var.ollama_frontend_instance_types must list general-purpose instance types (t3, t3a, m6i, m7i, c6i, c7i, c6a, c7a, r6i, r7i), e.g. t3.medium."
  }
}

variable "ollama_backend_capacity" {
  description = "Backend ASG size: min, max and desired instances."
  type = object({
    min     = number
    max     = number
    desired = number
  })

  validation {
    condition     = var.ollama_backend_capacity.min >= 0 && var.ollama_backend_capacity.min <= var.ollama_backend_capacity.desired && var.ollama_backend_capacity.desired <= var.ollama_backend_capacity.max && var.ollama_backend_capacity.max <= 50
    error_message = "var.ollama_backend_capacity must satisfy 0 <= min <= desired <= max <= 50."
  }
}

variable "ollama_frontend_capacity" {
  description = "Frontend ASG size: min, max and desired instances."
  type = object({
    min     = number
    max     = number
    desired = number
  })

  validation {
    condition     = var.ollama_frontend_capacity.min >= 0 && var.ollama_frontend_capacity.min <= var.ollama_frontend_capacity.desired && var.ollama_frontend_capacity.desired <= var.ollama_frontend_capacity.max && var.ollama_frontend_capacity.max <= 20
    error_message = "var.ollama_frontend_capacity must satisfy 0 <= min <= desired <= max <= 20."
  }
}

variable "ollama_on_demand_base_capacity" {
  description = "On-demand instances each ASG keeps before spot is used."
  type        = number
  default     = 0

  validation {
    condition     = var.ollama_on_demand_base_capacity >= 0
    error_message = "var.ollama_on_demand_base_capacity must be 0 or more."
  }
}

variable "ollama_on_demand_percentage" {
  description = "Percentage of on-demand instances above the base (100 = no spot; production uses 100)."
  type        = number
  default     = 0

  validation {
    condition     = var.ollama_on_demand_percentage >= 0 && var.ollama_on_demand_percentage <= 100
    error_message = "var.ollama_on_demand_percentage must be between 0 and 100."
  }
}

variable "ollama_warm_pool_size" {
  description = "Pre-initialised, stopped backend instances kept ready for scale-out (0 disables the warm pool)."
  type        = number
  default     = 0

  validation {
    condition     = var.ollama_warm_pool_size >= 0 && var.ollama_warm_pool_size <= 10
    error_message = "var.ollama_warm_pool_size must be between 0 and 10."
  }
}

variable "ollama_backend_volume_gb" {
  description = "Root volume size of backend instances in GiB (holds the pre-pulled models)."
  type        = number
  default     = 100

  validation {
    condition     = var.ollama_backend_volume_gb >= 30 && var.ollama_backend_volume_gb <= 2000
    error_message = "var.ollama_backend_volume_gb must be between 30 and 2000."
  }
}

variable "ollama_frontend_volume_gb" {
  description = "Root volume size of frontend instances in GiB."
  type        = number
  default     = 30

  validation {
    condition     = var.ollama_frontend_volume_gb >= 20 && var.ollama_frontend_volume_gb <= 500
    error_message = "var.ollama_frontend_volume_gb must be between 20 and 500."
  }
}

variable "ollama_backend_port" {
  description = "Port of the backend's bearer-token proxy in front of Ollama."
  type        = number
  default     = 8000

  validation {
    condition     = var.ollama_backend_port >= 1024 && var.ollama_backend_port <= 65535
    error_message = "var.ollama_backend_port must be an unprivileged port (1024-65535)."
  }
}

variable "ollama_frontend_port" {
  description = "Port Open-WebUI listens on."
  type        = number
  default     = 8080

  validation {
    condition     = var.ollama_frontend_port >= 1024 && var.ollama_frontend_port <= 65535
    error_message = "var.ollama_frontend_port must be an unprivileged port (1024-65535)."
  }
}

variable "ollama_backend_health_path" {
  description = "Backend readiness path (200 only after the default model answered a warm-up generation)."
  type        = string
  default     = "/ready"
}

variable "ollama_frontend_health_path" {
  description = "Open-WebUI health path."
  type        = string
  default     = "/health"
}

# --- Scaling ---
variable "ollama_cpu_target_percent" {
  description = "Target average CPU utilisation for target-tracking scaling."
  type        = number
  default     = 60

  validation {
    condition     = var.ollama_cpu_target_percent >= 10 && var.ollama_cpu_target_percent <= 90
    error_message = "var.ollama_cpu_target_percent must be between 10 and 90."
  }
}

variable "ollama_requests_per_target" {
  description = "Target ALB requests per instance per minute (ALBRequestCountPerTarget) for each tier."
  type = object({
    frontend = number
    backend  = number
  })
  default = {
    frontend = 1000
    backend  = 60
  }
}

variable "ollama_lifecycle_heartbeat_timeout" {
  description = "Seconds a launching instance of each tier may take to configure itself and become ready before its launch lifecycle hook abandons it."
  type = object({
    backend  = number
    frontend = number
  })
  default = {
    backend  = 900
    frontend = 600
  }

  validation {
    condition     = alltrue([for seconds in values(var.ollama_lifecycle_heartbeat_timeout) : seconds >= 30 && seconds <= 7200])
    error_message = "var.ollama_lifecycle_heartbeat_timeout values must be between 30 and 7200 seconds (the lifecycle hook's limits)."
  }
}

variable "ollama_inflight_target" {
  description = "Target in-flight inference requests per backend instance (custom metric Ollama/InFlightRequests)."
  type        = number
  default     = 4

  validation {
    condition     = var.ollama_inflight_target >= 1 && var.ollama_inflight_target <= 256
    error_message = "var.ollama_inflight_target must be between 1 and 256."
  }
}

variable "ollama_scale_to_zero_schedule" {
  description = <<-EOT
    Night-time scale-to-zero for non-production, run by Auto Scaling scheduled actions (scaling.tf): the groups go to
    zero at working_day_end and wake early enough to serve at working_day_start ("HH:MM" on working_days, in
    time_zone). The wake time is working_day_start minus boot_to_ready_seconds (measure it: the group's activity
    history, launch to InService, of the slower tier) minus wake_margin_seconds.
  EOT
  type = object({
    enabled               = bool
    working_days          = string
    working_day_start     = string
    working_day_end       = string
    boot_to_ready_seconds = number
    wake_margin_seconds   = number
    time_zone             = string
  })
  default = {
    enabled               = false
    working_days          = "MON-FRI"
    working_day_start     = "08:00"
    working_day_end       = "20:00"
    boot_to_ready_seconds = 600
    wake_margin_seconds   = 600
    time_zone             = "Etc/UTC"
  }

  validation {
    condition     = !(var.ollama_scale_to_zero_schedule.enabled && var.environment == "production")
    error_message = "var.ollama_scale_to_zero_schedule.enabled must be false in production: scheduled scale-to-zero is for dev and staging only."
  }

  validation {
    condition = alltrue([for time in [var.ollama_scale_to_zero_schedule.working_day_start, var.ollama_scale_to_zero_schedule.working_day_end] :
    can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]$", time))])
    error_message = "var.ollama_scale_to_zero_schedule.working_day_start and working_day_end must be \"HH:MM\" (24-hour clock), e.g. \"08:00\"."
  }

  validation {
    condition     = can(regex("^(MON|TUE|WED|THU|FRI|SAT|SUN)(-(MON|TUE|WED|THU|FRI|SAT|SUN))?(,(MON|TUE|WED|THU|FRI|SAT|SUN)(-(MON|TUE|WED|THU|FRI|SAT|SUN))?)*$|^\\*$", var.ollama_scale_to_zero_schedule.working_days))
    error_message = "var.ollama_scale_to_zero_schedule.working_days must be a cron day-of-week field such as \"MON-FRI\", \"MON,WED,FRI\" or \"*\"."
  }

  validation {
    condition = (
      var.ollama_scale_to_zero_schedule.boot_to_ready_seconds >= 60 &&
      var.ollama_scale_to_zero_schedule.boot_to_ready_seconds <= max(values(var.ollama_lifecycle_heartbeat_timeout)...)
    )
    error_message = "var.ollama_scale_to_zero_schedule.boot_to_ready_seconds must be the measured launch-to-InService time: at least 60 s and no longer than the launch hook's heartbeat timeout (var.ollama_lifecycle_heartbeat_timeout), or the boots would be abandoned."
  }

  validation {
    condition = (
      var.ollama_scale_to_zero_schedule.wake_margin_seconds >= 300 &&
      var.ollama_scale_to_zero_schedule.wake_margin_seconds >= var.ollama_scale_to_zero_schedule.boot_to_ready_seconds / 2
    )
    error_message = "var.ollama_scale_to_zero_schedule.wake_margin_seconds is too small: it must be at least 300 s and at least half of boot_to_ready_seconds (boots vary with spot capacity, image pulls and the warm-up generation). Raise it or wake earlier."
  }

  validation {
    condition = try(
      tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_start)[0]) * 60 + tonumber(split(":", var.ollama_scale_to_zero_schedule.working_day_start)[1]) >=
      ceil((var.ollama_scale_to_zero_schedule.boot_to_ready_seconds + var.ollama_scale_to_zero_schedule.wake_margin_seconds) / 60),
      true # a malformed time is reported by the format check above
    )
    error_message = "var.ollama_scale_to_zero_schedule: working_day_start minus boot_to_ready_seconds and wake_margin_seconds falls before midnight; start the working day later or shorten the margin."
  }
}

variable "ollama_max_generation_seconds" {
  description = "The longest generation (one streamed answer) the service lets finish: the load balancers' deregistration delay, the instances' drain bound and the terminating lifecycle hooks are derived from it (locals.tf)."
  type        = number
  default     = 300

  validation {
    condition     = var.ollama_max_generation_seconds >= 30 && var.ollama_max_generation_seconds <= 3000
    error_message = "var.ollama_max_generation_seconds must be between 30 and 3000 (the deregistration delay derived from it may not exceed 3600 s)."
  }
}

# --- Data ---
variable "rds_instance_class" {
  description = "RDS PostgreSQL instance class for Open-WebUI."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.rds_instance_class))
    error_message = "var.rds_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "rds_allocated_storage_gb" {
  description = "Initial RDS storage in GiB (autoscaling up to 5x)."
  type        = number
  default     = 20

  validation {
    condition     = var.rds_allocated_storage_gb >= 20 && var.rds_allocated_storage_gb <= 1000
    error_message = "var.rds_allocated_storage_gb must be between 20 and 1000."
  }
}

variable "rds_multi_az" {
  description = "Run RDS Multi-AZ (default true; dev and staging may turn it off to save cost)."
  type        = bool
  default     = true
}

variable "rds_backup_retention_days" {
  description = "RDS automated backup retention in days."
  type        = number
  default     = 7

  validation {
    condition     = var.rds_backup_retention_days >= 1 && var.rds_backup_retention_days <= 35
    error_message = "var.rds_backup_retention_days must be between 1 and 35 (RDS limits)."
  }
}

variable "redis_node_type" {
  description = "ElastiCache Redis node type."
  type        = string
  default     = "cache.t4g.micro"

  validation {
    condition     = can(regex("^cache\\.[a-z0-9]+\\.[a-z0-9]+$", var.redis_node_type))
    error_message = "var.redis_node_type must be an ElastiCache node type such as cache.t4g.small."
  }
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (1 primary + replicas); 2 or more enables Multi-AZ automatic failover."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "var.redis_num_cache_clusters must be between 1 and 6."
  }
}

variable "deletion_protection" {
  description = "Protect the DynamoDB table, RDS and the load balancers from deletion (default true; dev may turn it off)."
  type        = bool
  default     = true
}

# --- Observability, backups, cost ---
variable "log_retention_days" {
  description = "CloudWatch Logs retention in days."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "var.log_retention_days must be a CloudWatch Logs retention value: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "backup_retention_days" {
  description = "AWS Backup recovery point retention in days (also for the DR-region copy)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 3650
    error_message = "var.backup_retention_days must be between 1 and 3650."
  }
}

variable "s3_noncurrent_version_days" {
  description = "Days before noncurrent S3 object versions expire."
  type        = number
  default     = 30

  validation {
    condition     = var.s3_noncurrent_version_days >= 1 && var.s3_noncurrent_version_days <= 3650
    error_message = "var.s3_noncurrent_version_days must be between 1 and 3650."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm SNS topics (each confirms by e-mail)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", e))])
    error_message = "var.alarm_emails must contain only e-mail addresses such as ops@example.com."
  }

  validation {
    condition     = length(var.alarm_emails) + length(var.alarm_https_endpoints) > 0
    error_message = "Alarms would reach nobody: set alarm_emails (e-mail addresses) or alarm_https_endpoints (an on-call or chat webhook) in terraform/environments/<environment>.tfvars. Every environment needs at least one subscriber."
  }
}

variable "alarm_https_endpoints" {
  description = "HTTPS endpoints subscribed to the alarm SNS topics (an on-call service's or chat webhook's SNS URL; it must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for u in var.alarm_https_endpoints : can(regex("^https://[^/\\s]+\\.[^/\\s]+(/\\S*)?$", u))])
    error_message = "var.alarm_https_endpoints must contain only https:// URLs such as https://events.example.com/integration/sns (plain http is refused)."
  }
}

variable "monthly_budget_usd" {
  description = "Monthly AWS Budgets limit in USD for this environment."
  type        = number

  validation {
    condition     = var.monthly_budget_usd > 0
    error_message = "var.monthly_budget_usd must be greater than 0."
  }
}

variable "budget_alert_thresholds_percent" {
  description = "Budget percentages (actual and forecast) that notify the alarm e-mails."
  type        = list(number)
  default     = [80, 100]

  validation {
    condition     = length(var.budget_alert_thresholds_percent) > 0 && alltrue([for p in var.budget_alert_thresholds_percent : p > 0 && p <= 1000])
    error_message = "var.budget_alert_thresholds_percent must list percentages between 1 and 1000."
  }
}

variable "budget_alert_emails" {
  description = "E-mail addresses the budget (actual and forecast) and cost anomaly alerts go to; at least one, in every environment."
  type        = list(string)

  validation {
    condition     = length(var.budget_alert_emails) > 0 && length(var.budget_alert_emails) <= 10 && alltrue([for e in var.budget_alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$", e))])
    error_message = "var.budget_alert_emails must list 1 to 10 e-mail addresses (AWS Budgets' limit) such as finance@example.com: cost alerts must reach a person."
  }
}

variable "cost_anomaly_monitor_enabled" {
  description = "Create this account's Cost Anomaly Detection monitor. One per account: false in all but one environment of a shared account."
  type        = bool
  default     = true
}

variable "cost_anomaly_threshold_usd" {
  description = "Total impact in USD from which a cost anomaly is e-mailed (daily digest)."
  type        = number
  default     = 25

  validation {
    condition     = var.cost_anomaly_threshold_usd > 0
    error_message = "var.cost_anomaly_threshold_usd must be greater than 0."
  }
}

variable "billing_alarm_threshold_usd" {
  description = "Estimated-charges CloudWatch billing alarm threshold in USD (account-wide, created in us-east-1)."
  type        = number

  validation {
    condition     = var.billing_alarm_threshold_usd > 0
    error_message = "var.billing_alarm_threshold_usd must be greater than 0."
  }
}

# --- Open-WebUI admin access ---

variable "webui_admin_email" {
  description = "E-mail of the Open-WebUI admin account created on the first start (its password is generated into the webui-admin-password secret)."
  type        = string

  validation {
    condition     = can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.webui_admin_email))
    error_message = "var.webui_admin_email must be an e-mail address (name@domain.tld): the Open-WebUI admin account is created for it."
  }
}

variable "webui_oidc" {
  description = "Optional single sign-on for Open-WebUI: the provider's discovery URL, the client id, the ARN of the Secrets Manager secret or SSM SecureString parameter holding the client secret (encrypted with the stack's data key or the service's AWS managed key) and the label of the sign-in button. null: no SSO."
  type = object({
    provider_url      = string
    client_id         = string
    client_secret_arn = string
    provider_name     = optional(string, "SSO")
  })
  default = null

  validation {
    condition     = var.webui_oidc == null || can(regex("^https://[^/]+(/.*)?/\\.well-known/openid-configuration$", var.webui_oidc.provider_url))
    error_message = "var.webui_oidc.provider_url must be the provider's https URL ending in /.well-known/openid-configuration."
  }

  validation {
    condition     = var.webui_oidc == null || can(regex("^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/.+)$", var.webui_oidc.client_secret_arn))
    error_message = "var.webui_oidc.client_secret_arn must be the ARN of a Secrets Manager secret (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME) or of an SSM SecureString parameter (arn:aws:ssm:REGION:ACCOUNT:parameter/NAME), never the secret itself."
  }

  validation {
    condition     = var.webui_oidc == null || try(length(var.webui_oidc.client_id) > 0 && length(var.webui_oidc.provider_name) > 0, false)
    error_message = "var.webui_oidc.client_id and provider_name must not be empty."
  }
}
