package storage

func NewPartPlanForTest(partSize int64, maxParts int) func(int) int64 {
	return newPartPlan(partSize, maxParts).size
}
