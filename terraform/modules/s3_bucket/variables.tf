variable "bucket_prefix" {
  description = "Bucket name prefix; AWS appends a unique suffix (at most 37 characters)."
  type        = string
}

variable "purpose" {
  description = "What the bucket holds, written to its Purpose tag."
  type        = string
}

variable "force_destroy" {
  description = "Delete the bucket even when it holds objects (non-production environments)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for SSE-KMS; null selects SSE-S3 (AES256), which ALB access-log delivery requires."
  type        = string
  default     = null
}

variable "object_ownership" {
  description = "BucketOwnerEnforced (ACLs disabled), or BucketOwnerPreferred for writers that need ACLs (CloudFront standard logging)."
  type        = string
  default     = "BucketOwnerEnforced"

  validation {
    condition     = contains(["BucketOwnerEnforced", "BucketOwnerPreferred"], var.object_ownership)
    error_message = "object_ownership must be BucketOwnerEnforced or BucketOwnerPreferred (ObjectWriter would let writers own objects)."
  }
}

variable "versioning_enabled" {
  description = "Keep object versions; false only for a bucket of short-lived objects that must not outlive their expiry (a transfer bucket), which then needs expiration_days."
  type        = bool
  default     = true

  validation {
    condition     = var.versioning_enabled || var.expiration_days != null
    error_message = "versioning_enabled = false needs expiration_days: an unversioned bucket must expire its objects."
  }
}

variable "noncurrent_version_days" {
  description = "Days a noncurrent object version is kept before it expires."
  type        = number
}

variable "expiration_days" {
  description = "Days after which current objects expire; null keeps them."
  type        = number
  default     = null
}

variable "access_log_bucket" {
  description = "Bucket that receives this bucket's server access logs; null when this bucket needs none (the log bucket itself, a replica)."
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of this bucket's server access logs in access_log_bucket."
  type        = string
  default     = ""
}

variable "policy_documents" {
  description = "IAM policy documents (JSON) merged into the bucket policy after the TLS-only statement."
  type        = list(string)
  default     = []
}
