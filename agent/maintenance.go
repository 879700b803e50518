package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// maintenanceFile keeps the maintenance mode in data_dir, so an instance
// drained for work stays drained across a restart of its agent (Consul's
// maintenance mode persists the same way). It exists only while the mode
// is on.
const maintenanceFile = "maintenance.json"

// maintenanceState is maintenanceFile's content.
type maintenanceState struct {
	Reason string `json:"reason"`
}

// saveMaintenance records the maintenance mode in the data directory
// (without one, it lasts as long as the agent): written to a temporary
// file and renamed, so a crash leaves the old state or the new one.
func saveMaintenance(dataDir string, enable bool, reason string) error {
	if dataDir == "" {
		return nil
	}
	path := filepath.Join(dataDir, maintenanceFile)
	if !enable {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("maintenance state: %w", err)
		}
		return nil
	}
	b, _ := json.Marshal(maintenanceState{Reason: reason})
	if err := writeStateFile(path, b); err != nil {
		return fmt.Errorf("maintenance state: %w", err)
	}
	return nil
}

// loadMaintenance reads the maintenance mode a previous run left in the
// data directory: on, and its reason; off when there is no file.
func loadMaintenance(dataDir string) (on bool, reason string, err error) {
	if dataDir == "" {
		return false, "", nil
	}
	b, err := readStateFile(filepath.Join(dataDir, maintenanceFile))
	if err != nil {
		return false, "", fmt.Errorf("maintenance state: %w", err)
	}
	if b == nil {
		return false, "", nil
	}
	var st maintenanceState
	if err := json.Unmarshal(b, &st); err != nil {
		return false, "", fmt.Errorf("maintenance state %s: %w", filepath.Join(dataDir, maintenanceFile), err)
	}
	return true, st.Reason, nil
}
