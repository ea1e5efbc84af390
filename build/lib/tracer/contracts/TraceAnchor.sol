// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// Merkle roots of Agora's trace batches. Only the hub's key (the deployer) anchors;
/// anyone reads. A batch id is written once, so a retried anchoring can never
/// overwrite or duplicate a batch.
contract TraceAnchor {
    struct Batch {
        bytes32 root;
        uint64 count;
        uint64 anchoredAt;
    }

    address public immutable owner;
    mapping(uint256 => Batch) private batches;

    event Anchored(uint256 indexed batchId, bytes32 root, uint64 count);

    error NotOwner();
    error EmptyBatch();
    error AlreadyAnchored(uint256 batchId, bytes32 root);

    constructor() {
        owner = msg.sender;
    }

    function anchor(uint256 batchId, bytes32 root, uint64 count) external {
        if (msg.sender != owner) revert NotOwner();
        if (root == bytes32(0) || count == 0) revert EmptyBatch();
        Batch storage existing = batches[batchId];
        if (existing.root != bytes32(0)) revert AlreadyAnchored(batchId, existing.root);
        batches[batchId] = Batch(root, count, uint64(block.timestamp));
        emit Anchored(batchId, root, count);
    }

    /// The root, number of traces and block time of a batch; all zero if never anchored.
    function batch(uint256 batchId) external view returns (bytes32 root, uint64 count, uint64 anchoredAt) {
        Batch storage b = batches[batchId];
        return (b.root, b.count, b.anchoredAt);
    }
}
